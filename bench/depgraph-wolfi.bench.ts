/**
 * Scan + graph of the Wolfi corpus (../shared/corpora/wolfi-os): cold (no parse cache), warm
 * (parse cache), `plan --changed-since` with one changed config, peak RSS, and our graph code
 * against graphology/graphology-dag on the same graph. Every timed run is a fresh process (JIT
 * warm-up is part of what a CLI user waits for); the median of N runs is printed.
 *
 *   npm run bench -- depgraph-wolfi [runs=3]
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOnSources, SOURCE_NODE_ARGS } from './on-sources.ts';

const self = fileURLToPath(import.meta.url);
const corpus = fileURLToPath(new URL('../../shared/corpora/wolfi-os', import.meta.url));

runOnSources(self, '@melange2/engine');

type Depgraph = typeof import('@melange2/depgraph');
// Not loaded by a child that measures loading it.
const dg: Depgraph =
  process.argv[2] === '--child' && process.argv[3] === 'import'
    ? (undefined as unknown as Depgraph)
    : await import('@melange2/depgraph');
type Arch = 'x86_64' | 'aarch64';

interface ChildResult {
  ms: Record<string, number>;
  rssMB: number;
  info?: Record<string, unknown>;
}

async function child(mode: string, args: string[]): Promise<ChildResult> {
  const ms: Record<string, number> = {};
  let t = performance.now();
  const lap = (k: string) => {
    const now = performance.now();
    ms[k] = now - t;
    t = now;
  };
  const t0 = performance.now();
  const info: Record<string, unknown> = {};
  if (mode === 'import') {
    // What a process pays before its first line of work: load @melange2/depgraph from sources
    // (through tsx), counting the modules it pulls in.
    const { registerHooks } = await import('node:module');
    const loaded: string[] = [];
    registerHooks({
      load(url, ctx, next) {
        loaded.push(url);
        return next(url, ctx);
      },
    });
    const t = performance.now();
    await import('@melange2/depgraph');
    ms['import'] = performance.now() - t;
    info['modules'] = loaded.length;
    info['grpc or buildkit'] = loaded.filter((u) => /@grpc|protobuf|libs\/buildkit/.test(u)).length;
  } else if (mode === 'yaml-only') {
    const { load, FAILSAFE_SCHEMA } = await import('js-yaml');
    const files = readdirSync(corpus).filter((f) => f.endsWith('.yaml') && !f.startsWith('.'));
    for (const f of files) load(readFileSync(join(corpus, f), 'utf8'), { schema: FAILSAFE_SCHEMA });
    lap('read+parse');
  } else if (mode === 'scan-graph') {
    const [cacheDir, workers, arch] = args as [string, string, Arch];
    const scan = await dg.scanRepository(corpus, {
      cacheDir: cacheDir === '-' ? false : cacheDir,
      workers: Number(workers),
    });
    lap('scan');
    const g = dg.buildGraph(scan, { arch, cacheDir: cacheDir === '-' ? false : cacheDir });
    lap('graph');
    const { report } = dg.analyze(g, 'bootstrap');
    lap('analyze');
    info['parsed'] = scan.stats.parsed;
    info['workers'] = scan.stats.workers;
    info['nodes'] = report.nodes;
  } else if (mode === 'plan') {
    const [repo, cacheDir] = args as [string, string];
    const scan = await dg.scanRepository(repo, { cacheDir });
    lap('scan');
    const files = dg.changedFiles(repo, 'HEAD');
    lap('git');
    const g = dg.buildGraph(scan, { arch: 'x86_64', cacheDir });
    const changed = dg.changedConfigs(g.nodes, files);
    const plan = dg.planBuilds(g, { changed, policy: 'bootstrap' });
    lap('graph+plan');
    info['planned'] = plan.total;
    info['changed'] = changed.map((c) => c.name);
  }
  ms['total'] = performance.now() - t0;
  // Since the process started: node, tsx and module loading included (what a user waits for).
  ms['process'] = performance.now();
  return { ms, rssMB: process.resourceUsage().maxRSS / 1024, info };
}

if (process.argv[2] === '--child') {
  const r = await child(process.argv[3]!, process.argv.slice(4));
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}

/** The same measurement for the built packages (dist/, no tsx): what the CLI bin pays. */
const IMPORT_DIST = `
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load(url, ctx, next) { loaded.push(url); return next(url, ctx); } });
const t = performance.now();
await import('@melange2/depgraph');
const ms = performance.now() - t;
const grpc = loaded.filter((u) => /@grpc|protobuf|libs\\/buildkit/.test(u)).length;
console.log(JSON.stringify({ ms: { import: ms, total: ms }, rssMB: process.resourceUsage().maxRSS / 1024,
  info: { modules: loaded.length, 'grpc or buildkit': grpc } }));
`;

function spawnChild(mode: string, args: string[]): ChildResult {
  const argv =
    mode === 'import-dist'
      ? ['--input-type=module', '-e', IMPORT_DIST]
      : [...SOURCE_NODE_ARGS, self, '--child', mode, ...args];
  const out = execFileSync(process.execPath, argv, {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number) => `${x.toFixed(0)} ms`;

interface Line {
  label: string;
  mode: string;
  args: () => string[];
}

function report(label: string, rs: ChildResult[]): void {
  const keys = Object.keys(rs[0]!.ms);
  const parts = keys.map((k) => `${k} ${fmt(median(rs.map((r) => r.ms[k]!)))}`);
  const rss = Math.max(...rs.map((r) => r.rssMB));
  console.log(
    `  ${label.padEnd(44)} ${parts.join(', ')}; peak RSS ${rss.toFixed(0)} MB${rs[0]!.info && Object.keys(rs[0]!.info).length ? ` ${JSON.stringify(rs[0]!.info)}` : ''}`,
  );
}

/** Runs the lines round-robin (one process of each per round), so they share the same load. */
function measureTogether(runs: number, lines: Line[]): ChildResult[][] {
  const rs: ChildResult[][] = lines.map(() => []);
  for (let i = 0; i < runs; i++)
    for (const [k, l] of lines.entries()) rs[k]!.push(spawnChild(l.mode, l.args()));
  for (const [k, l] of lines.entries()) report(l.label, rs[k]!);
  return rs;
}

function measure(label: string, runs: number, mode: string, args: () => string[]): ChildResult[] {
  return measureTogether(runs, [{ label, mode, args }])[0]!;
}

if (!existsSync(corpus)) {
  console.log(`depgraph-wolfi: corpus not found at ${corpus}; nothing to measure`);
  process.exit(0);
}
const runs = Number(process.argv[2] ?? 3);
console.log(
  `depgraph-wolfi: ${corpus}, ${runs} fresh processes per line (median), ${(await import('node:os')).availableParallelism()} cores, load ${(
    await import('node:os')
  )
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);

// 1. Figures.
const scan = await dg.scanRepository(corpus, { cacheDir: false });
console.log(
  `\nrepository: ${scan.configs.length} configs, ${scan.pipelines.size} pipelines, ${scan.problems.length} problems`,
);
for (const arch of ['x86_64', 'aarch64'] as const) {
  for (const pipelineNeeds of [false, true]) {
    const g = dg.buildGraph(scan, { arch, pipelineNeeds });
    const b = dg.analyze(g, 'bootstrap').report;
    const s = dg.analyze(g, 'serial').report;
    console.log(
      `${arch}${pipelineNeeds ? ' +pipeline-needs' : ''}: nodes ${b.nodes}, edges ${b.edges}, unresolved ${b.unresolved.length}, ` +
        `cycles ${b.cycles.map((c) => c.size).join(' + ')}, levels ${b.levels} (serial ${s.levels}, ${s.droppedEdges?.length} edges dropped), ` +
        `widest level ${b.maxWidth}, critical path ${b.criticalPath.length} (serial ${s.criticalPath.length})` +
        (pipelineNeeds ? `, uses: with no pipeline definition: ${g.unknownPipelines.size}` : ''),
    );
    if (!pipelineNeeds) {
      console.log(`  unresolved: ${b.unresolved.join(' ')}`);
      for (const c of b.cycles) console.log(`  cycle of ${c.size}: ${c.shortest}`);
      console.log(`  critical path: ${b.criticalPath.join(' → ')}`);
    }
  }
}

// 2. Timings, each in fresh processes.
console.log('\ntimings (fresh process each; tsx transpiles the sources on load, a built CLI skips that):');
measure('import @melange2/depgraph (sources, tsx)', runs, 'import', () => []);
if (existsSync(new URL('../libs/depgraph/dist/index.js', import.meta.url)))
  measure('import @melange2/depgraph (dist)', runs, 'import-dist', () => []);
else console.log('  import @melange2/depgraph (dist): not built (npx nx run-many -t build)');
// The reference and the cold scans alternate, so their ratio holds under the load of a shared machine.
const [ref, cold0, cold1] = measureTogether(runs, [
  { label: 'reference: read + js-yaml parse only, 1 thread', mode: 'yaml-only', args: () => [] },
  {
    label: 'cold scan+graph, parse workers 0 (x86_64)',
    mode: 'scan-graph',
    args: () => ['-', '0', 'x86_64'],
  },
  {
    label: 'cold scan+graph, parse workers 1 (x86_64)',
    mode: 'scan-graph',
    args: () => ['-', '1', 'x86_64'],
  },
]);
const total = (rs: ChildResult[]) => median(rs.map((r) => r.ms['total']!));
console.log(
  `  cold scan+graph ÷ reference, same rounds: workers 0 ${(total(cold0!) / total(ref!)).toFixed(2)}x, ` +
    `workers 1 ${(total(cold1!) / total(ref!)).toFixed(2)}x`,
);
const cacheDir = mkdtempSync(join(tmpdir(), 'depgraph-bench-'));
spawnChild('scan-graph', [cacheDir, '0', 'x86_64']);
spawnChild('scan-graph', [cacheDir, '0', 'aarch64']);
measure('warm scan+graph (parse cache) x86_64', runs, 'scan-graph', () => [cacheDir, '1', 'x86_64']);
measure('warm scan+graph (parse cache) aarch64', runs, 'scan-graph', () => [cacheDir, '1', 'aarch64']);

// 3. plan --changed-since with one changed config, on a git copy of the corpus.
const repo = join(mkdtempSync(join(tmpdir(), 'depgraph-bench-git-')), 'os');
cpSync(corpus, repo, { recursive: true });
const git = (...a: string[]) =>
  execFileSync('git', a, {
    cwd: repo,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'b',
      GIT_AUTHOR_EMAIL: 'b@b',
      GIT_COMMITTER_NAME: 'b',
      GIT_COMMITTER_EMAIL: 'b@b',
    },
  });
git('init', '-q');
git('add', '-A');
git('commit', '-q', '-m', 'corpus');
appendFileSync(join(repo, 'zlib.yaml'), '# touched\n');
const planCache = mkdtempSync(join(tmpdir(), 'depgraph-bench-'));
spawnChild('plan', [repo, planCache]);
measure('plan --changed-since HEAD (1 changed, warm)', runs, 'plan', () => [repo, planCache]);

// 4. Own graph code vs graphology + graphology-dag on the same graph (in this process, warmed).
const { DirectedGraph } = await import('graphology');
const { topologicalGenerations, hasCycle } = await import('graphology-dag');
const g = dg.buildGraph(scan, { arch: 'x86_64' });
const own = () => {
  const s = dg.schedule(g.nodes.length, dg.adjacency(g), undefined, { policy: 'bootstrap' });
  return s.waves.length;
};
const sched = dg.schedule(g.nodes.length, dg.adjacency(g), undefined, { policy: 'bootstrap' });
const gl = () => {
  const G = new DirectedGraph();
  for (const n of g.nodes) G.addNode(n.name);
  // The same DAG the bootstrap policy schedules: edges inside a cycle dropped, dependency → dependent.
  for (const e of g.edges) {
    if (sched.sccs.comp[e.from] !== sched.sccs.comp[e.to])
      G.addEdge(g.nodes[e.to]!.name, g.nodes[e.from]!.name);
  }
  if (hasCycle(G)) throw new Error('not a DAG');
  return topologicalGenerations(G).length;
};
const time = (f: () => number, n: number) => {
  f();
  const ts: number[] = [];
  let v = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    v = f();
    ts.push(performance.now() - t);
  }
  return { ms: median(ts), v };
};
const a = time(own, 15);
const b = time(gl, 15);
console.log(
  `\ngraph algorithms (x86_64, median of 15, warmed): own SCC + policy + levels + critical path ${a.ms.toFixed(1)} ms (${a.v} levels); ` +
    `graphology build + hasCycle + topologicalGenerations (no SCC, no critical path) ${b.ms.toFixed(1)} ms (${b.v} levels); ratio ${(b.ms / a.ms).toFixed(1)}x`,
);
rmSync(cacheDir, { recursive: true, force: true });
rmSync(planCache, { recursive: true, force: true });
rmSync(join(repo, '..'), { recursive: true, force: true });
