import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { resignIndexArchive, writeFileAtomic } from '@melange2/apk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { addFlags, type FlagSet, readFlags } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { asFailure, signingKeyFrom } from './apk-options.js';

const FLAG_SET = { signingKey: FLAGS.signingKeys } satisfies FlagSet;

export function registerSignIndex(program: Command): void {
  const cmd = program
    .command('sign-index')
    .description('(re)sign an APKINDEX.tar.gz in place: its signatures are replaced by one RSA256 signature')
    .argument('<index>', 'APKINDEX.tar.gz');
  addFlags(cmd, FLAG_SET).action((index: string, _o: unknown, c: Command) => {
    const o = readFlags(c, FLAG_SET);
    if (!o.signingKey?.length) throw new CliError('--signing-key is required', EXIT.usage);
    const keys = o.signingKey.map((k) => signingKeyFrom(resolve(k)));
    let buf: Buffer;
    try {
      buf = readFileSync(index);
    } catch (e) {
      throw new CliError(`${index}: ${(e as Error).message}`, EXIT.usage, { cause: e });
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
