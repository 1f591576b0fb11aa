import { resolve } from 'node:path';
import { ApkError, writeKeyPair } from '@melange2/apk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { addFlags, type FlagSet, readFlags, withDefault, withHelp } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';

const FLAG_SET = {
  name: withDefault(FLAGS.keyName, 'melange'),
  keySize: withDefault(FLAGS.keySize, '4096'),
  dir: withDefault(FLAGS.keyDir, '.'),
  force: withHelp(FLAGS.force, 'overwrite existing key files'),
} satisfies FlagSet;

export function registerKeygen(program: Command): void {
  const cmd = program
    .command('keygen')
    .description('generate an RSA signing key pair: <name>.rsa (PKCS#1) and <name>.rsa.pub (SPKI)');
  addFlags(cmd, FLAG_SET).action(async (_o: unknown, c: Command) => {
    const o = readFlags(c, FLAG_SET);
    const bits = o.keySize;
    if (!/^[A-Za-z0-9@._+-]+$/.test(o.name)) {
      throw new CliError(`--name: "${o.name}" is not a plain file name`, EXIT.usage);
    }
    try {
      const r = await writeKeyPair(resolve(o.dir), o.name, { bits, force: o.force });
      process.stdout.write(`wrote ${r.privatePath}\nwrote ${r.publicPath}\n`);
    } catch (e) {
      if (e instanceof ApkError && e.code === 'exists')
        throw new CliError(e.message, EXIT.failed, { cause: e });
      throw e;
    }
  });
}
