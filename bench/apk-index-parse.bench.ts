// Parse a 200,000-entry APKINDEX.tar.gz (Wolfi's published index holds ~186,000 versions).
// Goal (issue 3): < 1.5 s and < 500 MB RSS. Reference measured in the same run: gunzip alone.
// The RSS figure is the peak during the first parse in this fresh process (sampled every 2 ms).
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { readIndexArchive } from '@melange2/apk';
import { syntheticIndexFile } from './apk-bench-lib.js';

const N = Number(process.argv[2] ?? 200_000);
const mb = (b: number) => `${(b / 1048576).toFixed(0)} MB`;
const buf = readFileSync(syntheticIndexFile(N));
const rss0 = process.memoryUsage().rss;
let peak = rss0;
const timer = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 2);
let t = performance.now();
let r: ReturnType<typeof readIndexArchive> | undefined = readIndexArchive(buf, 'bench');
const first = performance.now() - t;
peak = Math.max(peak, process.memoryUsage().rss);
clearInterval(timer);
if (r.index.entries.length !== N) throw new Error(`expected ${N} entries, got ${r.index.entries.length}`);
const retained = process.memoryUsage().rss;
r = undefined;
let best = first;
let refBest = Number.POSITIVE_INFINITY;
let tarBytes = 0;
for (let i = 0; i < 2; i++) {
  t = performance.now();
  readIndexArchive(buf, 'bench');
  best = Math.min(best, performance.now() - t);
  t = performance.now();
  tarBytes = gunzipSync(buf).length;
  refBest = Math.min(refBest, performance.now() - t);
}
console.log(`apk-index-parse: ${N} entries, ${mb(buf.length)} compressed, ${mb(tarBytes)} tar`);
console.log(
  `  parse (gunzip + tar + records): ${best.toFixed(0)} ms best of 3, first ${first.toFixed(0)} ms  (goal < 1500 ms)`,
);
console.log(
  `  reference, gunzip alone:        ${refBest.toFixed(0)} ms  → parse / gunzip = ${(best / refBest).toFixed(2)}`,
);
console.log(
  `  RSS: peak ${mb(peak)} during the first parse (goal < 500 MB), ${mb(retained)} right after, ${mb(rss0)} before`,
);
