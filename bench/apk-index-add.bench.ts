// Incremental add of one package to a 20,000-entry index. Goal (issue 3): < 50 ms excluding the
// signature. Two paths are measured in the same run:
//  - IncrementalIndex (a publisher keeps the index open): read 1 .apk, insert, re-gzip, write;
//  - addToIndexFile (stateless): additionally reads and parses the existing index file.
// Reference: rebuilding the index from the 20,000 entries from scratch (format + sort + gzip).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  addToIndexFile,
  buildIndexArchive,
  generateKeyPair,
  IncrementalIndex,
  packageInfo,
  packApk,
  signData,
  signingKeyFromPem,
} from '@melange2/apk';
import { syntheticEntries } from './apk-bench-lib.js';

const N = Number(process.argv[2] ?? 20_000);
const dir = mkdtempSync(join(tmpdir(), 'apk-index-add-'));
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
try {
  const entries = syntheticEntries(N);
  const indexPath = join(dir, 'APKINDEX.tar.gz');
  writeFileSync(indexPath, buildIndexArchive({ description: 'bench', entries }));
  const apks: string[] = [];
  for (let i = 0; i < 7; i++) {
    const src = mkdtempSync(join(dir, 'src-'));
    writeFileSync(join(src, 'hello'), `hello ${i}\n`);
    const apk = join(dir, `hello-1.${i}-r0.apk`);
    await packApk({
      dir: src,
      info: packageInfo({ name: 'hello', version: `1.${i}-r0`, arch: 'x86_64' }),
      output: apk,
    });
    apks.push(apk);
  }
  const inc = IncrementalIndex.open(indexPath);
  inc.build(); // the first build compresses every chunk
  const tInc: number[] = [];
  const tInc1: number[] = [];
  for (const apk of apks.slice(0, 5)) {
    let t = performance.now();
    await inc.add([apk]);
    inc.save();
    tInc.push(performance.now() - t);
    t = performance.now();
    inc.build();
    tInc1.push(performance.now() - t);
  }
  const tFile: number[] = [];
  for (const apk of apks.slice(0, 5)) {
    const t = performance.now();
    await addToIndexFile(indexPath, [apk]);
    tFile.push(performance.now() - t);
  }
  const tRef: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    buildIndexArchive({ description: 'bench', entries });
    tRef.push(performance.now() - t);
  }
  const key = signingKeyFromPem((await generateKeyPair(4096)).privatePem, 'bench.rsa.pub');
  let t = performance.now();
  await inc.add([apks[5]!]);
  inc.save({ signingKey: key });
  const signed = performance.now() - t;
  const member = inc.build();
  t = performance.now();
  signData(key, member);
  const signOnly = performance.now() - t;
  console.log(
    `apk-index-add: add 1 package to a ${N}-entry index (median of 5; goal < 50 ms without signing)`,
  );
  console.log(`  IncrementalIndex add + save (gzip -6):  ${med(tInc).toFixed(1)} ms`);
  console.log(`  IncrementalIndex build, nothing changed: ${med(tInc1).toFixed(1)} ms`);
  console.log(`  addToIndexFile (re-reads the index):  ${med(tFile).toFixed(1)} ms`);
  console.log(
    `  reference, rebuild from all entries:  ${med(tRef).toFixed(1)} ms  → incremental / rebuild = ${(med(tInc) / med(tRef)).toFixed(2)}`,
  );
  console.log(
    `  with an RSA-4096 signature: add+save ${signed.toFixed(1)} ms (the RSA signature alone: ${signOnly.toFixed(1)} ms)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
