/** Scan result → per-arch graph, and the graph report the `graph` command prints. */
import { shortestCycle } from './analysis.js';
import { createHash } from 'node:crypto';
import { builtinPipelines, builtinPipelinesDigest } from './builtins.js';
import { openModelCache } from './model-cache.js';
import { type BuildGraph, resolveGraph } from './graph.js';
import type { PipelineLookup } from '@melange2/melange';
import { buildModel, type ConfigNode } from './model.js';
import type { RepoScan } from './scan.js';
import { type CyclePolicy, type Schedule, schedule } from './schedule.js';
import type { Arch } from './types.js';

export interface GraphOptions {
  arch: Arch;
  /** Add the `needs.packages` of every `uses:` pipeline to the build deps. */
  pipelineNeeds?: boolean;
  /** Built-in pipelines, consulted after the repository's `pipelines/`; default: @melange2/melange's. */
  builtinPipelines?: PipelineLookup;
  /**
   * Where the model cache lives (as for the scan); `false` or absent computes every node. Not
   * used with a custom `builtinPipelines` (its content cannot be keyed).
   */
  cacheDir?: string | false;
  /**
   * Resolve only these configs' dependencies (see {@link resolveGraph}): for planning a known
   * selection without dependents. The graph then has no edges out of the other configs.
   */
  resolveOnly?: ReadonlySet<string>;
}

function pipelinesContext(scan: Pick<RepoScan, 'fileKeys'>, needs: boolean): string {
  const h = createHash('sha1');
  for (const [f, k] of [...scan.fileKeys].filter(([f]) => f.startsWith('pipelines/')).sort())
    h.update(`${f}\0${k}\0`);
  if (needs) h.update(builtinPipelinesDigest());
  return h.digest('base64');
}

export function buildGraph(
  scan: Pick<RepoScan, 'configs' | 'pipelines'> & Partial<Pick<RepoScan, 'root' | 'fileKeys'>>,
  opts: GraphOptions,
): BuildGraph {
  const needs = opts.pipelineNeeds ?? false;
  const cache =
    opts.cacheDir && scan.root && scan.fileKeys && !opts.builtinPipelines
      ? openModelCache(
          opts.cacheDir,
          scan.root,
          `${opts.arch}${needs ? '.needs' : ''}`,
          pipelinesContext({ fileKeys: scan.fileKeys }, needs),
          scan.fileKeys,
        )
      : undefined;
  const model = buildModel(
    scan.configs,
    {
      arch: opts.arch,
      pipelines: scan.pipelines,
      pipelineNeeds: needs,
      builtinPipelines: opts.builtinPipelines ?? builtinPipelines(),
    },
    cache,
  );
  if (cache) {
    try {
      cache.save();
    } catch {
      // A read-only cache directory only costs the next run its speed.
    }
  }
  return resolveGraph(
    opts.arch,
    model.nodes,
    {
      excluded: model.excluded,
      problems: model.problems,
      unknownPipelines: model.unknownPipelines,
    },
    opts.resolveOnly,
  );
}

export const adjacency = (g: BuildGraph) => ({ start: g.outStart, targets: g.outTargets });
export const reverseAdjacency = (g: BuildGraph) => ({ start: g.inStart, targets: g.inSources });

/** The dependency names of the edge a → b ("→[x]"). */
export function edgeDeps(g: BuildGraph, a: number, b: number): string[] {
  for (let e = g.outStart[a]!; e < g.outStart[a + 1]!; e++) {
    if (g.outTargets[e] === b) return g.edges[g.outEdge[e]!]!.deps;
  }
  return [];
}

/** `a →[dep] b →[dep] a` */
/** Every cycle (SCC of 2 or more), largest first, each explained by a shortest cycle through it. */
export function cycleReports(g: BuildGraph, s: Schedule): CycleReport[] {
  const adj = adjacency(g);
  const cycles: CycleReport[] = [];
  s.sccs.members.forEach((m, c) => {
    if (m.length < 2) return;
    const cyc = shortestCycle(adj, s.sccs.comp, c, m);
    cycles.push({
      size: m.length,
      members: m.map((i) => g.nodes[i]!.name).sort(),
      shortest: formatCycle(g, cyc),
      shortestLength: cyc.length,
    });
  });
  return cycles.sort((a, b) => b.size - a.size || (a.members[0]! < b.members[0]! ? -1 : 1));
}

export function formatCycle(g: BuildGraph, cycle: readonly number[]): string {
  if (cycle.length === 0) return '';
  let s = g.nodes[cycle[0]!]!.name;
  for (let i = 0; i < cycle.length; i++) {
    const a = cycle[i]!;
    const b = cycle[(i + 1) % cycle.length]!;
    s += ` →[${edgeDeps(g, a, b)[0] ?? '?'}] ${g.nodes[b]!.name}`;
  }
  return s;
}

export interface CostOptions {
  /** Measured build durations in seconds, by config name. */
  durations?: ReadonlyMap<string, number>;
  /** Estimate a config's cost from `package.resources.cpu` when no duration is known. */
  useResources?: boolean;
}

/**
 * Per-config cost for the weighted critical path: a measured duration if known; otherwise, with
 * resource hints, the requested CPUs (a config asking for 48 cores is a long build); otherwise 1.
 */
export function costWeights(nodes: readonly ConfigNode[], c: CostOptions): Float64Array | undefined {
  if (!c.durations && !c.useResources) return undefined;
  const w = new Float64Array(nodes.length);
  nodes.forEach((n, i) => {
    const d = c.durations?.get(n.name);
    w[i] = d ?? (c.useResources ? Math.max(1, n.resources.cpu ?? 1) : 1);
  });
  return w;
}

export interface CycleReport {
  size: number;
  members: string[];
  /** A concrete shortest cycle: `glibc →[coreutils] coreutils →[libselinux-dev] libselinux →[glibc-dev] glibc`. */
  shortest: string;
  shortestLength: number;
}

export interface GraphReport {
  arch: Arch;
  policy: CyclePolicy;
  nodes: number;
  edges: number;
  unresolved: string[];
  sccs: string[][];
  cycles: CycleReport[];
  levels: number;
  widths: number[];
  maxWidth: number;
  criticalPath: string[];
  weightedCriticalPath?: { path: string[]; cost: number };
  /** Dependencies satisfied outside the repository, by reason (self, constraint, unresolved). */
  externalByReason: Record<string, number>;
  /** `serial` only: edges dropped to break cycles. */
  droppedEdges?: { from: string; to: string; deps: string[]; cycle: string }[];
}

export function analyze(
  g: BuildGraph,
  policy: CyclePolicy,
  cost: CostOptions = {},
): { schedule: Schedule; report: GraphReport } {
  const n = g.nodes.length;
  const weights = costWeights(g.nodes, cost);
  const names = g.nodes.map((x) => x.name);
  const s = schedule(n, adjacency(g), undefined, { policy, names, ...(weights ? { weights } : {}) });
  const cycles = cycleReports(g, s);
  const widths = s.waves.map((w) => w.length);
  const report: GraphReport = {
    arch: g.arch,
    policy,
    nodes: n,
    edges: g.edges.length,
    unresolved: [...g.unresolved.keys()].sort(),
    externalByReason: { self: 0, constraint: 0, unresolved: 0 },
    sccs: cycles.map((c) => c.members),
    cycles,
    levels: s.waves.length,
    widths,
    maxWidth: widths.reduce((a, b) => Math.max(a, b), 0),
    criticalPath: s.criticalPath.map((i) => names[i]!),
  };
  for (const e of g.external)
    report.externalByReason[e.reason] = (report.externalByReason[e.reason] ?? 0) + 1;
  if (s.weighted)
    report.weightedCriticalPath = { path: s.weighted.path.map((i) => names[i]!), cost: s.weighted.cost };
  if (policy === 'serial') {
    report.droppedEdges = s.dropped.map((d) => ({
      from: names[d.from]!,
      to: names[d.to]!,
      deps: edgeDeps(g, d.from, d.to),
      cycle: formatCycle(g, [d.from, ...d.cycle.slice(0, -1)]),
    }));
  }
  return { schedule: s, report };
}
