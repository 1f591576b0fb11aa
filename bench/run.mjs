#!/usr/bin/env node
// `npm run bench -- <name> [args…]` runs bench/<name>.bench.ts against the TypeScript sources.
// Benchmarks print figures and ratios against a reference measured in the same run; they never
// fail on timings (these machines are shared and noisy).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const names = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .map((f) => f.slice(0, -'.bench.ts'.length))
  .sort();
const [name, ...rest] = process.argv.slice(2);
if (!name || !names.includes(name)) {
  if (name) process.stderr.write(`bench: no benchmark "${name}"\n`);
  process.stdout.write(
    `usage: npm run bench -- <name> [args…]\nbenchmarks: ${names.join(', ') || '(none yet)'}\n`,
  );
  process.exit(name ? 2 : 0);
}
// tsx as an --import hook, not its CLI: the CLI re-spawns node and drops --conditions, and the
// benchmarks would then measure stale dist/ builds instead of the sources.
const r = spawnSync(
  process.execPath,
  ['--conditions=@melange2/source', '--import', 'tsx', join(here, `${name}.bench.ts`), ...rest],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
