import {
  ApkError,
  type Keyring,
  type LoadedRepository,
  loadRepository,
  parseRepositoryLine,
  type RepositorySpec,
  resolveWorld,
} from '@melange2/apk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { archOf } from '../flags/arch.js';
import { addFlags, type FlagSet, readFlags, withHelp } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { keyringFrom } from './apk-options.js';

const FLAG_SET = {
  repository: FLAGS.repositories,
  keyring: withHelp(
    FLAGS.keyrings,
    'public key file or directory the indexes must verify against (repeatable)',
  ),
  arch: FLAGS.apkArch,
  json: FLAGS.json,
  allowUntrusted: FLAGS.allowUntrusted,
} satisfies FlagSet;

export function registerResolve(program: Command): void {
  const cmd = program
    .command('resolve')
    .description('resolve packages against APK repositories and print the install set (dependencies first)')
    .argument('<packages...>', 'world entries: name, name>=1.2, !name, name@tag, so:libfoo.so.1, cmd:sh …');
  addFlags(cmd, FLAG_SET).action(async (world: string[], _o: unknown, c: Command) => {
    const o = readFlags(c, FLAG_SET);
    if (!o.repository?.length)
      throw new CliError('--repository-append is required: where to look', EXIT.usage);
    if (!o.arch) throw new CliError('--arch is required', EXIT.usage);
    const arch = archOf(o.arch) ?? o.arch;
    if (!o.keyring?.length && !o.allowUntrusted) {
      throw new CliError(
        '--keyring-append is required to verify repository indexes (or pass --allow-untrusted)',
        EXIT.usage,
      );
    }
    const keyring: Keyring | undefined = o.keyring?.length
      ? keyringFrom(o.keyring, '--keyring-append')
      : undefined;
    const specs: RepositorySpec[] = [];
    for (const r of o.repository) {
      try {
        const s = parseRepositoryLine(r);
        if (s) specs.push(s);
      } catch (e) {
        throw new CliError(`--repository-append: ${(e as Error).message}`, EXIT.usage, { cause: e });
      }
    }
    let repos: LoadedRepository[];
    let res: ReturnType<typeof resolveWorld>;
    try {
      repos = await Promise.all(
        specs.map((s) =>
          loadRepository(s, arch, {
            ...(keyring && { keyring }),
            allowUntrusted: o.allowUntrusted,
          }),
        ),
      );
      res = resolveWorld({ repositories: repos, world, arch });
    } catch (e) {
      if (e instanceof ApkError) {
        throw new CliError(e.message, e.code === 'bad-dependency' ? EXIT.usage : EXIT.failed, { cause: e });
      }
      throw e;
    }
    if (o.json) {
      const out = res.packages.map((p) => ({
        name: p.entry.name,
        version: p.entry.version,
        arch: p.entry.arch,
        checksum: p.entry.checksum,
        size: p.entry.fileSize,
        installedSize: p.entry.size,
        repository: repos[p.repository]!.spec.url,
        ...(p.tag !== undefined && { tag: p.tag }),
      }));
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return;
    }
    for (const p of res.packages) {
      process.stdout.write(
        `${p.entry.name}-${p.entry.version}${p.tag ? ` @${p.tag}` : ''}\t${repos[p.repository]!.spec.url}\n`,
      );
    }
  });
}
