import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { resignIndexArchive, writeFileAtomic } from '@melange2/apk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { asFailure, signingKeyFrom } from './apk-options.js';

export function registerSignIndex(program: Command): void {
  program
    .command('sign-index')
    .description('(re)sign an APKINDEX.tar.gz in place: its signatures are replaced by one RSA256 signature')
    .argument('<index>', 'APKINDEX.tar.gz')
    .requiredOption('--signing-key <file>', 'RSA private key')
    .action((index: string, o: { signingKey: string }) => {
      const key = signingKeyFrom(resolve(o.signingKey));
      let buf: Buffer;
      try {
        buf = readFileSync(index);
      } catch (e) {
        throw new CliError(`${index}: ${(e as Error).message}`, EXIT.usage);
      }
      let out: Buffer;
      try {
        out = resignIndexArchive(buf, index, key);
      } catch (e) {
        asFailure(e);
      }
      writeFileAtomic(index, out);
      process.stdout.write(`${index}: signed with ${key.publicName}\n`);
    });
}
