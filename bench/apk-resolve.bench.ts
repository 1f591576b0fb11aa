// Resolve a 40-package environment against a 200,000-entry index. Goal (issue 3): < 50 ms after
// parsing. Reference measured in the same run: the parse itself.
import { readFileSync } from 'node:fs';
import { readIndexArchive, ResolverIndex, resolveWorld } from '@melange2/apk';
import { syntheticIndexFile } from './apk-bench-lib.js';

const N = Number(process.argv[2] ?? 200_000);
const names = Math.ceil(N / 8);
let t = performance.now();
const { index } = readIndexArchive(readFileSync(syntheticIndexFile(N)), 'bench');
const tParse = performance.now() - t;
const repos = [{ name: 'synthetic', entries: index.entries }];
t = performance.now();
const rIndex = new ResolverIndex(repos, 'x86_64');
const tBuild = performance.now() - t;

// Grow a world until its closure holds at least 40 packages.
const world: string[] = [];
let size = 0;
for (let k = 0; size < 40; k++) {
  world.push(`pkg${names - 1 - k * 997}`);
  size = resolveWorld({ index: rIndex, world }).packages.length;
}
const runs: number[] = [];
for (let i = 0; i < 5; i++) {
  t = performance.now();
  resolveWorld({ index: rIndex, world });
  runs.push(performance.now() - t);
}
const tCold: number[] = [];
for (let i = 0; i < 2; i++) {
  t = performance.now();
  resolveWorld({ repositories: repos, world, arch: 'x86_64' });
  tCold.push(performance.now() - t);
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
console.log(`apk-resolve: world of ${world.length} names → ${size} packages, against ${N} entries`);
console.log(
  `  resolve with a prebuilt ResolverIndex: ${med(runs).toFixed(1)} ms  (goal < 50 ms after parsing)`,
);
console.log(`  building the ResolverIndex once:        ${tBuild.toFixed(0)} ms`);
console.log(`  resolve including the index build:      ${Math.min(...tCold).toFixed(0)} ms`);
console.log(
  `  reference, parsing the index:           ${tParse.toFixed(0)} ms  → resolve / parse = ${(med(runs) / tParse).toFixed(3)}`,
);
