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
import { collectRepeat, keyringFrom } from './apk-options.js';

interface ResolveFlags {
  repository: string[];
  keyring: string[];
  arch: string;
  json?: boolean;
  allowUntrusted?: boolean;
}

export function registerResolve(program: Command): void {
  program
    .command('resolve')
    .description('resolve packages against APK repositories and print the install set (dependencies first)')
    .argument('<packages...>', 'world entries: name, name>=1.2, !name, name@tag, so:libfoo.so.1, cmd:sh …')
    .requiredOption(
      '--repository <repo>',
      'repository: directory or http(s) URL, "@tag URL" to pin (repeatable)',
      collectRepeat,
      [],
    )
    .option(
      '--keyring <key>',
      'public key file or directory the indexes must verify against (repeatable)',
      collectRepeat,
      [],
    )
    .requiredOption('--arch <arch>', 'architecture, e.g. x86_64 or aarch64')
    .option('--json', 'print JSON')
    .option('--allow-untrusted', 'accept unsigned or untrusted indexes')
    .action(async (world: string[], o: ResolveFlags) => {
      if (o.keyring.length === 0 && !o.allowUntrusted) {
        throw new CliError(
          '--keyring is required to verify repository indexes (or pass --allow-untrusted)',
          EXIT.usage,
        );
      }
      const keyring: Keyring | undefined = o.keyring.length ? keyringFrom(o.keyring, '--keyring') : undefined;
      const specs: RepositorySpec[] = [];
      for (const r of o.repository) {
        try {
          const s = parseRepositoryLine(r);
          if (s) specs.push(s);
        } catch (e) {
          throw new CliError(`--repository: ${(e as Error).message}`, EXIT.usage);
        }
      }
      let repos: LoadedRepository[];
      let res: ReturnType<typeof resolveWorld>;
      try {
        repos = await Promise.all(
          specs.map((s) =>
            loadRepository(s, o.arch, {
              ...(keyring && { keyring }),
              allowUntrusted: o.allowUntrusted ?? false,
            }),
          ),
        );
        res = resolveWorld({ repositories: repos, world, arch: o.arch });
      } catch (e) {
        if (e instanceof ApkError) {
          throw new CliError(
            e.code === 'bad-dependency' ? e.message : e.message,
            e.code === 'bad-dependency' ? EXIT.usage : EXIT.failed,
          );
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
