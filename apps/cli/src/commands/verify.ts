import { detectArchiveKind, readIndexFile, verifyApk } from '@melange2/apk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { collectRepeat, keyringFrom } from './apk-options.js';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('verify the signature and integrity of .apk files and APKINDEX.tar.gz files')
    .argument('<files...>', '.apk or APKINDEX.tar.gz files')
    .requiredOption(
      '--keyring-append <key>',
      'trusted public key file or directory (repeatable)',
      collectRepeat,
      [],
    )
    .action(async (files: string[], o: { keyringAppend: string[] }) => {
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
