// A repository of four configs whose builds print: one succeeds, one fails, one prints past a
// small log cap, one prints slowly (to follow). A nonce keeps BuildKit from answering from cache.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const config = (name: string, steps: string) => `package:
  name: ${name}
  version: 1.0.0
  epoch: 0
  description: prints for the build-log tests
  copyright:
    - license: Apache-2.0

environment:
  contents:
    packages:
      - busybox

pipeline:
${steps}`;

const keep = (name: string) =>
  `      mkdir -p \${{targets.destdir}}/usr/share/${name}\n      echo ok > \${{targets.destdir}}/usr/share/${name}/ok\n`;

export function logRepo(nonce: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'm2-logrepo-'));
  const w = (name: string, steps: string) => writeFileSync(join(dir, `${name}.yaml`), config(name, steps));
  w(
    'loud',
    `  - name: first words\n    runs: echo "loud FIRST-STEP-OUTPUT ${nonce}"\n  - name: last words\n    runs: |\n      echo "loud LAST-STEP-OUTPUT ${nonce}"\n${keep('loud')}`,
  );
  w(
    'fails',
    `  - name: first words\n    runs: echo "fails FIRST-STEP-OUTPUT ${nonce}"\n  - name: last words\n    runs: |\n      echo "fails LAST-STEP-OUTPUT ${nonce}" >&2\n      exit 7\n`,
  );
  w(
    'big',
    `  - runs: |\n      i=0\n      while [ $i -lt 3000 ]; do echo "big line $i ${nonce} xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; i=$((i+1)); done\n${keep('big')}`,
  );
  w(
    'slow',
    `  - runs: |\n      for i in 1 2 3 4 5 6 7 8; do echo "slow tick $i ${nonce}"; sleep 1; done\n${keep('slow')}`,
  );
  return dir;
}
