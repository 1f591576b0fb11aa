import { resolve } from 'node:path';
import { ApkError, writeKeyPair } from '@melange2/apk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';

export function registerKeygen(program: Command): void {
  program
    .command('keygen')
    .description('generate an RSA signing key pair: <name>.rsa (PKCS#1) and <name>.rsa.pub (SPKI)')
    .option('--name <name>', 'key file base name', 'melange')
    .option('--bits <n>', 'RSA modulus size', '4096')
    .option('-C, --dir <dir>', 'directory to write the keys into', '.')
    .option('--force', 'overwrite existing key files')
    .action(async (o: { name: string; bits: string; dir: string; force?: boolean }) => {
      const bits = Number(o.bits);
      if (!Number.isInteger(bits) || bits < 2048) {
        throw new CliError(`--bits: expected an integer of at least 2048, got "${o.bits}"`, EXIT.usage);
      }
      if (!/^[A-Za-z0-9@._+-]+$/.test(o.name)) {
        throw new CliError(`--name: "${o.name}" is not a plain file name`, EXIT.usage);
      }
      try {
        const r = await writeKeyPair(resolve(o.dir), o.name, { bits, force: o.force ?? false });
        process.stdout.write(`wrote ${r.privatePath}\nwrote ${r.publicPath}\n`);
      } catch (e) {
        if (e instanceof ApkError && e.code === 'exists') throw new CliError(e.message, EXIT.failed);
        throw e;
      }
    });
}
