/**
 * Planning and scheduling at scale: a synthetic build graph with Wolfi's shape (fan-in drawn
 * from Wolfi's distribution, fan-out heavy-tailed by preferential attachment, cpu hints from
 * Wolfi's, a few back edges making cycles the cycle policy breaks), generated from a seed, for
 * 1k, 10k and 100k nodes. Each size runs in its own process and prints: plan time per cycle
 * policy, the simulated run through the real Scheduler (64 slots) with the scheduler's CPU per
 * build, and peak RSS. The real Wolfi graph is the reference row when the corpus is present.
 *
 *   npm run bench -- schedule-scale [sizes=1000,10000,100000]
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runOnSources, SOURCE_NODE_ARGS } from './on-sources.ts';

const self = fileURLToPath(import.meta.url);
runOnSources(self, '@melange2/coordinator');

type BuildGraph = import('@melange2/depgraph').BuildGraph;
type ScheduledBuild = import('@melange2/coordinator/internal').ScheduledBuild;

/** mulberry32: a small seeded generator, the same graph on every machine. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Draws from a histogram of [value range, weight] (Wolfi x86_64's, measured). */
function histogram(bins: readonly [number, number, number][], r: () => number): number {
  const total = bins.reduce((s, b) => s + b[2], 0);
  let x = r() * total;
  for (const [lo, hi, w] of bins) {
    if (x < w) return lo + Math.floor(r() * (hi - lo + 1));
    x -= w;
  }
  return bins[0]![0];
}
const FAN_IN: [number, number, number][] = [
  [0, 0, 408],
  [1, 1, 450],
  [2, 2, 197],
  [3, 3, 192],
  [4, 7, 1469],
  [8, 15, 537],
  [16, 63, 146],
];
const CPU: [number, number, number][] = [
  [1, 1, 2289],
  [2, 2, 671],
  [3, 3, 122],
  [4, 8, 164],
  [9, 24, 113],
  [25, 66, 41],
];

/** A synthetic graph as the depgraph builds it from configs (one provide per config). */
function synthetic(n: number, seed: number): { g: BuildGraph; backEdges: number } {
  const r = rng(seed);
  const name = (i: number) => `s${String(i).padStart(6, '0')}`;
  const deps: number[][] = [];
  // Targets of every edge so far: a uniform pick from it is a pick by fan-out (the rich get richer).
  const targets: number[] = [];
  let backEdges = 0;
  const forced: number[][] = [];
  for (let i = 0; i < n; i++) {
    const want = i === 0 ? 0 : Math.min(i, histogram(FAN_IN, r));
    const mine = new Set<number>();
    for (let k = 0; k < want * 3 && mine.size < want; k++) {
      const j =
        targets.length > 0 && r() < 0.7 ? targets[Math.floor(r() * targets.length)]! : Math.floor(r() * i);
      mine.add(j);
    }
    // Now and then two configs that need each other (a cycle the policy breaks), as the
    // toolchain bootstraps in Wolfi do: this one needs a later one, which will need this one.
    for (const j of forced[i] ?? []) mine.add(j);
    if (i + 1 < n && r() < 0.005) {
      const j = i + 1 + Math.floor(r() * Math.min(50, n - i - 1));
      mine.add(j);
      forced[j] = [...(forced[j] ?? []), i];
      backEdges++;
    }
    for (const j of mine) if (j < i) targets.push(j);
    deps.push([...mine].sort((a, b) => a - b));
  }
  const nodes = Array.from({ length: n }, (_, i) => ({
    name: name(i),
    file: `${name(i)}.yaml`,
    version: '1',
    epoch: '0',
    fullVersion: '1-r0',
    provides: [],
    deps: [],
    resources: { cpu: histogram(CPU, r) },
    updateShared: false,
    repoPipelines: [],
    runtime: {},
  }));
  const edges: { from: number; to: number; deps: string[] }[] = [];
  const outStart = new Int32Array(n + 1);
  const inCount = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (const j of deps[i]!) {
      edges.push({ from: i, to: j, deps: [name(j)] });
      inCount[j]!++;
    }
    outStart[i + 1] = edges.length;
  }
  const outTargets = Int32Array.from(edges, (e) => e.to);
  const outEdge = Int32Array.from(edges, (_, k) => k);
  const inStart = new Int32Array(n + 1);
  for (let j = 0; j < n; j++) inStart[j + 1] = inStart[j]! + inCount[j]!;
  const fill = inStart.slice(0, n);
  const inSources = new Int32Array(edges.length);
  for (const e of edges) inSources[fill[e.to]!++] = e.from;
  const g: BuildGraph = {
    arch: 'x86_64',
    nodes,
    index: new Map(nodes.map((x, i) => [x.name, i])),
    edges,
    outStart,
    outTargets,
    outEdge,
    inStart,
    inSources,
    external: [],
    unresolved: new Map(),
    excluded: [],
    problems: [],
    unknownPipelines: new Map(),
  };
  return { g, backEdges };
}

interface Row {
  label: string;
  builds: number;
  edges: number;
  depth: number;
  /** Builds in cycles (the cycle policy breaks them); −1 when not planned here. */
  cycles: number;
  planMs: Record<string, number>;
  schedulerSetupMs: number;
  cpuPerBuildUs: number;
  makespanRatio: number;
  rssMB: number;
}

async function child(size: string): Promise<Row> {
  const dg = await import('@melange2/depgraph');
  const { simulateRun, makespanLowerBound } = await import('@melange2/coordinator/internal');
  let builds: ScheduledBuild[];
  const planMs: Record<string, number> = {};
  let cycles = -1;
  let depth = 0;
  if (size === 'wolfi') {
    const { planWolfi } = await import('./wolfi-lib.js');
    builds = (await planWolfi()).builds.filter((b) => b.arch === 'x86_64');
  } else {
    const { g } = synthetic(Number(size), 42);
    let plan: ReturnType<typeof dg.planBuilds> | undefined;
    for (const policy of ['serial', 'bootstrap'] as const) {
      const t = process.cpuUsage();
      plan = dg.planBuilds(g, { policy });
      const c = process.cpuUsage(t);
      planMs[policy] = (c.user + c.system) / 1000;
    }
    cycles = plan!.cycles.reduce((k, c) => k + c.size, 0);
    depth = plan!.waves.length;
    // As planRun makes them: a dependency is its build's own id string (waves put it first).
    const ids = new Map<string, string>();
    builds = plan!.waves.flat().map((b) => {
      const id = `${b.name}@x86_64`;
      ids.set(b.name, id);
      return {
        id,
        name: b.name,
        arch: 'x86_64',
        deps: b.deps.map((d) => ids.get(d) ?? `${d}@x86_64`),
        cost: 60_000 * Math.max(1, b.resources.cpu ?? 1),
        reasons: b.reasons,
      };
    });
  }
  if (depth === 0) {
    const level = new Map<string, number>();
    for (const b of builds) level.set(b.id, 1 + Math.max(0, ...b.deps.map((d) => level.get(d) ?? 0)));
    depth = Math.max(...level.values());
  }
  const actual = (b: ScheduledBuild) => b.cost;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = simulateRun(builds, { ordering: 'cp-unlock', slots: 64, actual });
  const simMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  // Scheduler construction (priorities) alone, for the split.
  const { Scheduler } = await import('@melange2/coordinator/internal');
  const t1 = process.cpuUsage();
  new Scheduler(builds);
  const c1 = process.cpuUsage(t1);
  const setupMs = (c1.user + c1.system) / 1000;
  void simMs;
  return {
    label: size,
    builds: builds.length,
    edges: builds.reduce((s, b) => s + b.deps.length, 0),
    depth,
    cycles,
    planMs,
    schedulerSetupMs: setupMs,
    cpuPerBuildUs: ((cpu.user + cpu.system) / builds.length) * 1,
    makespanRatio: r.makespan / makespanLowerBound(builds, 64, actual),
    rssMB: process.resourceUsage().maxRSS / 1024,
  };
}

async function main(): Promise<void> {
  const sizes = (process.argv[2] ?? '1000,10000,100000').split(',');
  const { wolfiCorpus } = await import('./wolfi-lib.js');
  const labels = existsSync(wolfiCorpus) ? ['wolfi', ...sizes] : sizes;
  process.stdout.write(
    `${'graph'.padEnd(8)}${'builds'.padStart(8)}${'edges'.padStart(9)}${'depth'.padStart(6)}${'in cycles'.padStart(10)}` +
      `${'plan serial'.padStart(13)}${'plan bootstr.'.padStart(14)}${'sched setup'.padStart(12)}${'sched CPU/build'.padStart(16)}` +
      `${'÷ bound @64'.padStart(12)}${'peak RSS'.padStart(10)}\n`,
  );
  for (const label of labels) {
    const r = spawnSync(process.execPath, [...SOURCE_NODE_ARGS, self, '--child', label], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 20,
    });
    if (r.status !== 0) {
      process.stdout.write(`${label}: failed (${r.status ?? r.signal})\n`);
      continue;
    }
    const x = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Row;
    const ms = (v: number | undefined) => (v === undefined ? '-' : `${(v / 1000).toFixed(2)}s`);
    process.stdout.write(
      `${x.label.padEnd(8)}${String(x.builds).padStart(8)}${String(x.edges).padStart(9)}${String(x.depth).padStart(6)}${(x.cycles < 0 ? '-' : String(x.cycles)).padStart(10)}` +
        `${ms(x.planMs['serial']).padStart(13)}${ms(x.planMs['bootstrap']).padStart(14)}${ms(x.schedulerSetupMs).padStart(12)}` +
        `${`${x.cpuPerBuildUs.toFixed(1)} µs`.padStart(16)}${x.makespanRatio.toFixed(3).padStart(12)}${`${x.rssMB.toFixed(0)} MB`.padStart(10)}\n`,
    );
  }
  process.stdout.write(
    'CPU time throughout (the machine is shared; wall time is noise). plan: planBuilds on the synthetic BuildGraph (cycle policy, waves, deps);\n' +
      'sched setup: constructing the Scheduler (priorities); sched CPU/build: the whole simulated run (setup, every take and result) ÷ builds\n',
  );
}

if (process.argv[2] === '--child') {
  process.stdout.write(`${JSON.stringify(await child(process.argv[3]!))}\n`);
} else {
  await main();
}
