#!/usr/bin/env node
// Adds up the vitest JSON reports of every package into one closing line:
// `tests: N passed, N failed, N skipped`. Exits 1 when a test failed or no test ran.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
let passed = 0;
let failed = 0;
let skipped = 0;
const rows = [];
for (const f of dir && existsSync(dir)
  ? readdirSync(dir)
      .filter((x) => x.endsWith('.json'))
      .sort()
  : []) {
  const r = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const p = r.numPassedTests ?? 0;
  const x = (r.numFailedTests ?? 0) + (r.numRuntimeErrorTestSuites ?? 0);
  const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  passed += p;
  failed += x;
  skipped += s;
  rows.push(
    `  ${f.replace(/\.json$/, '').padEnd(28)} ${String(p).padStart(5)} passed ${String(x).padStart(3)} failed ${String(s).padStart(3)} skipped`,
  );
}
process.stdout.write(`${rows.join('\n')}\n`);
const flaky =
  dir && existsSync(dir)
    ? readdirSync(dir)
        .filter((x) => x.endsWith('.flaky.txt'))
        .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean))
    : [];
if (flaky.length > 0) {
  process.stdout.write(
    `flaky: ${flaky.length} test(s) passed only on a retry:\n${flaky.map((l) => `  ${l}`).join('\n')}\n`,
  );
}
process.stdout.write(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
