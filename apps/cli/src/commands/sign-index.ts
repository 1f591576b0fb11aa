import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { resignIndexArchive, writeFileAtomic } from '@melange2/apk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { asFailure, collectRepeat, signingKeyFrom } from './apk-options.js';

export function registerSignIndex(program: Command): void {
  program
    .command('sign-index')
    .description('(re)sign an APKINDEX.tar.gz in place: its signatures are replaced by one RSA256 signature')
    .argument('<index>', 'APKINDEX.tar.gz')
    .requiredOption(
      '--signing-key <file>',
      'RSA private key (repeatable: one signature each)',
      collectRepeat,
      [],
    )
    .action((index: string, o: { signingKey: string[] }) => {
      if (o.signingKey.length === 0) throw new CliError('--signing-key is required', EXIT.usage);
      const keys = o.signingKey.map((k) => signingKeyFrom(resolve(k)));
      let buf: Buffer;
      try {
        buf = readFileSync(index);
      } catch (e) {
        throw new CliError(`${index}: ${(e as Error).message}`, EXIT.usage);
      }
      let out: Buffer;
      try {
        out = resignIndexArchive(buf, index, keys);
      } catch (e) {
        asFailure(e);
      }
      writeFileAtomic(index, out);
      process.stdout.write(`${index}: signed with ${keys.map((k) => k.publicName).join(', ')}\n`);
    });
}
