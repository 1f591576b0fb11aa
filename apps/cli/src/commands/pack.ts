import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ApkError, packageInfo, packApk, SCRIPT_NAMES, type ScriptName } from '@melange2/apk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { addFlags, type FlagSet, readFlags, withHelp } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { signingKeyFrom } from './apk-options.js';

const FLAG_SET = {
  name: FLAGS.pkgName,
  version: FLAGS.pkgVersion,
  arch: FLAGS.apkArch,
  depends: FLAGS.depends,
  provides: FLAGS.provides,
  replaces: FLAGS.replaces,
  installIf: FLAGS.installIf,
  triggers: FLAGS.triggers,
  script: withHelp(FLAGS.script, `install script (${SCRIPT_NAMES.join(', ')}), as TYPE=FILE (repeatable)`),
  origin: FLAGS.origin,
  description: FLAGS.description,
  url: FLAGS.url,
  license: FLAGS.license,
  commit: FLAGS.commit,
  maintainer: FLAGS.maintainer,
  providerPriority: FLAGS.providerPriority,
  replacesPriority: FLAGS.replacesPriority,
  signingKey: withHelp(
    FLAGS.signingKeys,
    'RSA private key (PEM); the signature names <basename>.pub (repeatable)',
  ),
  sourceDateEpoch: withHelp(FLAGS.sourceDateEpoch, 'mtime for every entry (default 0)'),
  output: withHelp(FLAGS.output, 'output file (default <name>-<version>.apk)'),
} satisfies FlagSet;

export function registerPack(program: Command): void {
  const cmd = program
    .command('pack')
    .description('make a signed .apk (v2) from a directory tree')
    .argument('<dir>', 'directory whose contents become the package files');
  addFlags(cmd, FLAG_SET).action(async (dir: string, _o: unknown, c: Command) => {
    const o = readFlags(c, FLAG_SET);
    for (const [flag, v] of [
      ['--name', o.name],
      ['--version', o.version],
      ['--arch', o.arch],
    ] as const)
      if (v === undefined) throw new CliError(`${flag} is required`, EXIT.usage);
    const src = resolve(dir);
    let isDir = false;
    try {
      isDir = statSync(src).isDirectory();
    } catch {}
    if (!isDir) throw new CliError(`${dir}: not a directory`, EXIT.usage);
    const scripts: Partial<Record<ScriptName, Buffer>> = {};
    for (const s of o.script ?? []) {
      const eq = s.indexOf('=');
      const type = s.slice(0, eq) as ScriptName;
      if (eq < 0 || !SCRIPT_NAMES.includes(type)) {
        throw new CliError(
          `--script: expected TYPE=FILE with TYPE one of ${SCRIPT_NAMES.join(', ')}, got "${s}"`,
          EXIT.usage,
        );
      }
      try {
        scripts[type] = readFileSync(s.slice(eq + 1));
      } catch (e) {
        throw new CliError(`--script ${type}: ${(e as Error).message}`, EXIT.usage);
      }
    }
    const info = packageInfo({
      name: o.name!,
      version: o.version!,
      arch: o.arch!,
      depends: o.depends ?? [],
      provides: o.provides ?? [],
      replaces: o.replaces ?? [],
      installIf: o.installIf ?? [],
      triggers: o.triggers ?? [],
      ...(o.origin !== undefined && { origin: o.origin }),
      ...(o.description !== undefined && { description: o.description }),
      ...(o.url !== undefined && { url: o.url }),
      ...(o.license !== undefined && { license: o.license }),
      ...(o.commit !== undefined && { commit: o.commit }),
      ...(o.maintainer !== undefined && { maintainer: o.maintainer }),
    });
    if (o.providerPriority !== undefined) info.providerPriority = o.providerPriority;
    if (o.replacesPriority !== undefined) info.replacesPriority = o.replacesPriority;
    const sde = o.sourceDateEpoch;
    const output = resolve(o.output ?? `${o.name}-${o.version}.apk`);
    try {
      const res = await packApk({
        dir: src,
        info,
        scripts,
        output,
        ...(o.signingKey?.length && { signingKey: o.signingKey.map((k) => signingKeyFrom(resolve(k))) }),
        ...(sde !== undefined && { sourceDateEpoch: sde }),
      });
      process.stdout.write(
        `${res.path}: ${res.info.name}-${res.info.version} ${res.info.arch}, ${res.files} entries, ${res.fileSize} bytes, C:${res.checksum}\n`,
      );
    } catch (e) {
      if (e instanceof ApkError && ['bad-pkginfo', 'bad-dependency', 'bad-key'].includes(e.code)) {
        throw new CliError(e.message, EXIT.usage, { cause: e });
      }
      throw e;
    }
  });
}
