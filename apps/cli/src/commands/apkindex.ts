import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { addToIndexFile } from '@melange2/apk';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { addFlags, type FlagSet, readFlags, withHelp } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { asFailure, keyringFrom, signingKeyFrom } from './apk-options.js';

const FLAG_SET = {
  output: withHelp(FLAGS.output, 'index file to write (atomically)'),
  merge: FLAGS.merge,
  signingKey: FLAGS.signingKeys,
  keyringAppend: withHelp(
    FLAGS.keyrings,
    'public key (or dir) the existing index must verify against when merging',
  ),
  description: withHelp(FLAGS.description, 'repository description (DESCRIPTION entry)'),
  rewriteArch: FLAGS.rewriteArch,
  sourceDateEpoch: withHelp(FLAGS.sourceDateEpoch, 'tar mtime for the index entries (default 0)'),
} satisfies FlagSet;

export function registerIndex(program: Command): void {
  const cmd = program
    .command('index')
    .description('write an APKINDEX.tar.gz for .apk files (signed with --signing-key)')
    .argument('<apks...>', '.apk files to list');
  addFlags(cmd, FLAG_SET).action(async (apks: string[], _o: unknown, c: Command) => {
    const o = readFlags(c, FLAG_SET);
    if (!o.output) throw new CliError('--output is required: the index file to write', EXIT.usage);
    const signingKeys = o.signingKey ?? [];
    for (const a of apks) if (!existsSync(a)) throw new CliError(`${a}: no such file`, EXIT.usage);
    const sde = o.sourceDateEpoch;
    const output = resolve(o.output);
    const idx = await addToIndexFile(
      output,
      apks.map((a) => resolve(a)),
      {
        fresh: !o.merge,
        ...(signingKeys.length > 0 && { signingKey: signingKeys.map((k) => signingKeyFrom(resolve(k))) }),
        ...(o.keyringAppend?.length && { keyring: keyringFrom(o.keyringAppend, '--keyring-append') }),
        ...(o.description !== undefined && { description: o.description }),
        ...(o.rewriteArch !== undefined && { rewriteArch: o.rewriteArch }),
        ...(sde !== undefined && { sourceDateEpoch: sde }),
      },
    ).catch(asFailure);
    const noarch = idx.entries.filter((e) => e.arch === 'noarch').map((e) => `${e.name}-${e.version}`);
    if (noarch.length > 0) {
      process.stderr.write(
        `warning: ${noarch.length} entr${noarch.length === 1 ? 'y has' : 'ies have'} A:noarch (${noarch.slice(0, 3).join(', ')}${noarch.length > 3 ? ', …' : ''}); apk will look for them in <repo>/noarch/ (use --rewrite-arch)\n`,
      );
    }
    process.stdout.write(
      `${output}: ${idx.entries.length} packages${signingKeys.length ? ', signed' : ', unsigned'}\n`,
    );
  });
}
