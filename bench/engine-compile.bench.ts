// `npm run bench -- engine-compile [arch] [repo]`: `compile --all` over the Wolfi corpus for one
// arch, split into phases, against a reference measured in the same run (loading every config
// with js-yaml alone: the least any compile must do). Goal (issue 6): under 10 s for one arch.
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildGraph,
  compileConfig,
  compileRepository,
  defaultPipelineDirs,
  listConfigs,
  NotForArchError,
} from '@melange2/engine';
import { PipelineResolver, parseConfig } from '@melange2/melange';
import jsyaml from 'js-yaml';

const arch = process.argv[2] ?? 'x86_64';
const repo = process.argv[3] ?? fileURLToPath(new URL('../../shared/corpora/wolfi-os', import.meta.url));
if (!existsSync(repo)) {
  process.stdout.write(`engine-compile: corpus not found at ${repo}; skipped\n`);
  process.exit(0);
}

const files = listConfigs(repo).map((f) => join(repo, f));
const line = (s: string) => process.stdout.write(`${s}\n`);
line(`engine-compile: ${files.length} configs in ${repo}, arch ${arch}`);

// Warm-up (JIT, file cache) so the figures compare steady states.
compileRepository(repo, { arch });

let t = performance.now();
const texts = files.map((f) => readFileSync(f, 'utf8'));
const readMs = performance.now() - t;

t = performance.now();
for (const s of texts) jsyaml.load(s, { schema: jsyaml.FAILSAFE_SCHEMA });
const refMs = performance.now() - t;

t = performance.now();
const parsed = texts.map((s, i) => parseConfig(s, files[i]!));
const parseMs = performance.now() - t;

t = performance.now();
const resolver = new PipelineResolver(defaultPipelineDirs(repo));
const plans = [];
for (const p of parsed) {
  try {
    plans.push(compileConfig(p, { arch, resolver }));
  } catch (e) {
    if (!(e instanceof NotForArchError)) throw e;
  }
}
const planMs = performance.now() - t;

t = performance.now();
let ops = 0;
for (const p of plans) ops += buildGraph(p).definition.def.length;
const llbMs = performance.now() - t;

t = performance.now();
const cpu0 = process.cpuUsage();
const s = compileRepository(repo, { arch });
const totalMs = performance.now() - t;
const cpu = process.cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1000;

line(`  read files                 ${readMs.toFixed(0)} ms`);
line(`  reference: js-yaml load    ${refMs.toFixed(0)} ms`);
line(`  parse + validate + subst   ${parseMs.toFixed(0)} ms  (${(parseMs / refMs).toFixed(2)}× reference)`);
line(
  `  compile plans              ${planMs.toFixed(0)} ms  (${plans.length} plans, ${plans.reduce((n, p) => n + p.steps.length, 0)} steps)`,
);
line(`  plan → LLB + marshal       ${llbMs.toFixed(0)} ms  (${ops} ops)`);
line(
  `compile --all ${arch}: compiled ${s.compiled}/${s.total - s.skipped}, ${s.failed.length} failed, ${(totalMs / 1000).toFixed(2)} s ` +
    `(${(totalMs / refMs).toFixed(1)}× reference; goal < 10 s: ${totalMs < 10_000 ? 'met' : 'NOT met'})`,
);
line(
  `  cpu ${(cpuMs / 1000).toFixed(2)} s for the whole compile (wall counts other processes on a shared machine; ` +
    `load average ${loadavg()[0]!.toFixed(1)}), rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
);
