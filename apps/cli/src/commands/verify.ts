import { detectArchiveKind, readIndexFile, verifyApk } from '@melange2/apk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { addFlags, type FlagSet, readFlags } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { keyringFrom } from './apk-options.js';

const FLAG_SET = { keyringAppend: FLAGS.keyrings } satisfies FlagSet;

export function registerVerify(program: Command): void {
  const cmd = program
    .command('verify')
    .description('verify the signature and integrity of .apk files and APKINDEX.tar.gz files')
    .argument('<files...>', '.apk or APKINDEX.tar.gz files');
  addFlags(cmd, FLAG_SET).action(async (files: string[], _o: unknown, c: Command) => {
    const o = readFlags(c, FLAG_SET);
    if (!o.keyringAppend?.length)
      throw new CliError('--keyring-append is required: the public key(s) to trust', EXIT.usage);
    const keyring = keyringFrom(o.keyringAppend, '--keyring-append');
    let failed = 0;
    for (const f of files) {
      try {
        const kind = await detectArchiveKind(f);
        if (kind === 'apk') {
          const v = await verifyApk(f, { keyring });
          process.stdout.write(
            `${f}: OK (${v.head.info.name}-${v.head.info.version}, signed by ${v.signedBy})\n`,
          );
        } else {
          const r = readIndexFile(f, { keyring });
          process.stdout.write(
            `${f}: OK (index of ${r.index.entries.length} packages, signed by ${r.signedBy})\n`,
          );
        }
      } catch (e) {
        failed++;
        process.stderr.write(`${f}: FAILED: ${(e as Error).message}\n`);
      }
    }
    if (failed) throw new CliError(`${failed} of ${files.length} file(s) failed verification`, EXIT.failed);
  });
}
