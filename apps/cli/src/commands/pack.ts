import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ApkError, loadSigningKey, packageInfo, packApk, SCRIPT_NAMES, type ScriptName } from '@melange2/apk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';

const collect = (v: string, prev: string[]) => [...prev, ...v.split(/[\s,]+/).filter(Boolean)];

interface PackFlags {
  name: string;
  version: string;
  arch: string;
  depends: string[];
  provides: string[];
  replaces: string[];
  installIf: string[];
  triggers: string[];
  script: string[];
  origin?: string;
  description?: string;
  url?: string;
  license?: string;
  commit?: string;
  maintainer?: string;
  providerPriority?: string;
  replacesPriority?: string;
  signingKey: string[];
  sourceDateEpoch?: string;
  output?: string;
}

function int(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw new CliError(`${flag}: expected an integer, got "${v}"`, EXIT.usage);
  return Number(v);
}

export function registerPack(program: Command): void {
  program
    .command('pack')
    .description('make a signed .apk (v2) from a directory tree')
    .argument('<dir>', 'directory whose contents become the package files')
    .requiredOption('--name <name>', 'package name')
    .requiredOption('--version <version>', 'full package version, e.g. 1.2.3-r0')
    .requiredOption('--arch <arch>', 'architecture, e.g. x86_64 or aarch64')
    .option('--depends <dep>', 'dependency (repeatable, or comma-separated)', collect, [])
    .option('--provides <name[=ver]>', 'provided name (repeatable, or comma-separated)', collect, [])
    .option('--replaces <name>', 'package whose files this one may overwrite (repeatable)', collect, [])
    .option(
      '--install-if <dep>',
      'install automatically when all of these are installed (repeatable)',
      collect,
      [],
    )
    .option(
      '--triggers <glob>',
      'trigger directory glob (repeatable; needs --script trigger=FILE)',
      collect,
      [],
    )
    .option(
      '--script <type=file>',
      `install script (${SCRIPT_NAMES.join(', ')})`,
      (v: string, p: string[]) => [...p, v],
      [],
    )
    .option('--origin <name>', 'source package name (default: --name)')
    .option('--description <text>', 'one-line description')
    .option('--url <url>', 'project URL')
    .option('--license <spdx>', 'SPDX license expression')
    .option('--commit <sha>', 'VCS commit of the recipe')
    .option('--maintainer <who>', 'Name <email>')
    .option('--provider-priority <n>', 'provider priority')
    .option('--replaces-priority <n>', 'replaces priority')
    .option(
      '--signing-key <file>',
      'RSA private key (PEM); the signature names <basename>.pub (repeatable)',
      (v: string, p: string[]) => [...p, v],
      [],
    )
    .option('--source-date-epoch <secs>', 'mtime for every entry (default $SOURCE_DATE_EPOCH, else 0)')
    .option('-o, --output <file>', 'output file (default <name>-<version>.apk)')
    .action(async (dir: string, o: PackFlags) => {
      const src = resolve(dir);
      let isDir = false;
      try {
        isDir = statSync(src).isDirectory();
      } catch {}
      if (!isDir) throw new CliError(`${dir}: not a directory`, EXIT.usage);
      const scripts: Partial<Record<ScriptName, Buffer>> = {};
      for (const s of o.script) {
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
        name: o.name,
        version: o.version,
        arch: o.arch,
        depends: o.depends,
        provides: o.provides,
        replaces: o.replaces,
        installIf: o.installIf,
        triggers: o.triggers,
        ...(o.origin !== undefined && { origin: o.origin }),
        ...(o.description !== undefined && { description: o.description }),
        ...(o.url !== undefined && { url: o.url }),
        ...(o.license !== undefined && { license: o.license }),
        ...(o.commit !== undefined && { commit: o.commit }),
        ...(o.maintainer !== undefined && { maintainer: o.maintainer }),
      });
      const pp = int(o.providerPriority, '--provider-priority');
      if (pp !== undefined) info.providerPriority = pp;
      const rp = int(o.replacesPriority, '--replaces-priority');
      if (rp !== undefined) info.replacesPriority = rp;
      const sde = int(o.sourceDateEpoch, '--source-date-epoch');
      const output = resolve(o.output ?? `${o.name}-${o.version}.apk`);
      try {
        const res = await packApk({
          dir: src,
          info,
          scripts,
          output,
          ...(o.signingKey.length > 0 && { signingKey: o.signingKey.map((k) => loadSigningKey(resolve(k))) }),
          ...(sde !== undefined && { sourceDateEpoch: sde }),
        });
        process.stdout.write(
          `${res.path}: ${res.info.name}-${res.info.version} ${res.info.arch}, ${res.files} entries, ${res.fileSize} bytes, C:${res.checksum}\n`,
        );
      } catch (e) {
        if (e instanceof ApkError && ['bad-pkginfo', 'bad-dependency', 'bad-key'].includes(e.code)) {
          throw new CliError(e.message, EXIT.usage);
        }
        throw e;
      }
    });
}
