import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { addToIndexFile } from '@melange2/apk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { asFailure, collectRepeat, keyringFrom, signingKeyFrom } from './apk-options.js';

interface IndexFlags {
  output: string;
  merge?: boolean;
  signingKey: string[];
  keyringAppend: string[];
  description?: string;
  rewriteArch?: string;
  sourceDateEpoch?: string;
}

export function registerIndex(program: Command): void {
  program
    .command('index')
    .description('write an APKINDEX.tar.gz for .apk files (signed with --signing-key)')
    .argument('<apks...>', '.apk files to list')
    .requiredOption('-o, --output <file>', 'index file to write (atomically)')
    .option('--merge', 'keep the entries of the existing output index (replacing same name+version)')
    .option(
      '--signing-key <file>',
      'RSA private key to sign the index with (repeatable: one signature each)',
      collectRepeat,
      [],
    )
    .option(
      '--keyring-append <key>',
      'public key (or dir) the existing index must verify against when merging',
      collectRepeat,
      [],
    )
    .option('--description <text>', 'repository description (DESCRIPTION entry)')
    .option('--rewrite-arch <arch>', 'write this arch as A: (e.g. for noarch packages)')
    .option(
      '--source-date-epoch <secs>',
      'tar mtime for the index entries (default $SOURCE_DATE_EPOCH, else 0)',
    )
    .action(async (apks: string[], o: IndexFlags) => {
      for (const a of apks) if (!existsSync(a)) throw new CliError(`${a}: no such file`, EXIT.usage);
      const sde = o.sourceDateEpoch;
      if (sde !== undefined && !/^\d+$/.test(sde)) {
        throw new CliError(`--source-date-epoch: expected seconds, got "${sde}"`, EXIT.usage);
      }
      const output = resolve(o.output);
      const idx = await addToIndexFile(
        output,
        apks.map((a) => resolve(a)),
        {
          fresh: !o.merge,
          ...(o.signingKey.length > 0 && { signingKey: o.signingKey.map((k) => signingKeyFrom(resolve(k))) }),
          ...(o.keyringAppend.length > 0 && { keyring: keyringFrom(o.keyringAppend, '--keyring-append') }),
          ...(o.description !== undefined && { description: o.description }),
          ...(o.rewriteArch !== undefined && { rewriteArch: o.rewriteArch }),
          ...(sde !== undefined && { sourceDateEpoch: Number(sde) }),
        },
      ).catch(asFailure);
      const noarch = idx.entries.filter((e) => e.arch === 'noarch').map((e) => `${e.name}-${e.version}`);
      if (noarch.length > 0) {
        process.stderr.write(
          `warning: ${noarch.length} entr${noarch.length === 1 ? 'y has' : 'ies have'} A:noarch (${noarch.slice(0, 3).join(', ')}${noarch.length > 3 ? ', …' : ''}); apk will look for them in <repo>/noarch/ (use --rewrite-arch)\n`,
        );
      }
      process.stdout.write(
        `${output}: ${idx.entries.length} packages${o.signingKey.length ? ', signed' : ', unsigned'}\n`,
      );
    });
}
