/**
 * Cycle policies and waves. Both policies turn the (possibly cyclic) graph into a DAG, then
 * assign each config the wave after its last dependency's:
 *
 * - `bootstrap`: edges inside a cycle are dropped; members build in parallel against the
 *   previously published packages. The shallowest schedule.
 * - `serial`: edges are added in config-name order and an edge that would close a cycle is
 *   dropped (resolved to the published package), as Wolfi's tooling does. Deterministic, deeper.
 */
import { type Adjacency, shortestPath, stronglyConnected, type Sccs } from './analysis.js';

export type CyclePolicy = 'bootstrap' | 'serial';

interface DroppedEdge {
  from: number;
  to: number;
  /** The cycle the edge would have closed: `to … from` (then back to `to`). */
  cycle: number[];
}

export interface Schedule {
  policy: CyclePolicy;
  sccs: Sccs;
  /** Wave of each node (0 = no in-repo dependency), −1 when the node is not scheduled. */
  level: Int32Array;
  waves: number[][];
  /** `serial` only: each dropped edge with the cycle it would close. */
  dropped: DroppedEdge[];
  /** Longest chain by count, dependency first. */
  criticalPath: number[];
  /** Longest chain by cost, when weights were given. */
  weighted?: { path: number[]; cost: number };
}

export interface ScheduleOptions {
  policy: CyclePolicy;
  /** Per-node cost (seconds or any unit) for the weighted critical path. */
  weights?: Float64Array;
  /** Tie-break order for waves and paths (node names); default index order. */
  names?: readonly string[];
}

/** Restricts an adjacency to the nodes where `keep` is set; node indices are unchanged. */
function induced(n: number, adj: Adjacency, keep: Uint8Array): Adjacency {
  const start = new Int32Array(n + 1);
  const t: number[] = [];
  for (let v = 0; v < n; v++) {
    if (keep[v]) {
      for (let e = adj.start[v]!; e < adj.start[v + 1]!; e++) {
        if (keep[adj.targets[e]!]) t.push(adj.targets[e]!);
      }
    }
    start[v + 1] = t.length;
  }
  return { start, targets: Int32Array.from(t) };
}

/** `bootstrap`: every edge between different SCCs; the edges inside a cycle are dropped. */
function bootstrapEdges(n: number, a: Adjacency, comp: Int32Array): number[][] {
  const kept: number[][] = Array.from({ length: n }, () => []);
  for (let v = 0; v < n; v++) {
    for (let e = a.start[v]!; e < a.start[v + 1]!; e++) {
      const w = a.targets[e]!;
      if (comp[w] !== comp[v]) kept[v]!.push(w);
    }
  }
  return kept;
}

/** Whether `to` is reachable from `from` over `intra` edges within component `c`. */
function reaches(intra: readonly number[][], comp: Int32Array, from: number, to: number, c: number): boolean {
  const seen = new Set<number>([from]);
  const stack = [from];
  while (stack.length > 0) {
    const x = stack.pop()!;
    if (x === to) return true;
    for (const y of intra[x]!) {
      if (!seen.has(y) && comp[y] === c) {
        seen.add(y);
        stack.push(y);
      }
    }
  }
  return false;
}

/** `serial`: edges in index order; one that would close a cycle is dropped, with that cycle. */
function serialEdges(
  n: number,
  a: Adjacency,
  comp: Int32Array,
): { kept: number[][]; dropped: DroppedEdge[] } {
  const kept: number[][] = Array.from({ length: n }, () => []);
  const dropped: DroppedEdge[] = [];
  // Only an edge inside an SCC can close a cycle; reachability is checked over the kept edges.
  const intra: number[][] = Array.from({ length: n }, () => []);
  for (let v = 0; v < n; v++) {
    for (let e = a.start[v]!; e < a.start[v + 1]!; e++) {
      const w = a.targets[e]!;
      if (comp[w] !== comp[v]) kept[v]!.push(w);
      // Reachability w →* v over intra edges kept so far (small: within one SCC).
      else if (reaches(intra, comp, w, v, comp[v]!)) dropped.push({ from: v, to: w, cycle: [] });
      else {
        intra[v]!.push(w);
        kept[v]!.push(w);
      }
    }
  }
  if (dropped.length > 0) {
    const ka = toAdjacency(n, kept);
    for (const d of dropped) d.cycle = shortestPath(ka, d.to, d.from, (x) => comp[x] === comp[d.from]) ?? [];
  }
  return { kept, dropped };
}

function toAdjacency(n: number, lists: readonly number[][]): Adjacency {
  const start = new Int32Array(n + 1);
  const t: number[] = [];
  for (let v = 0; v < n; v++) {
    for (const w of lists[v]!) t.push(w);
    start[v + 1] = t.length;
  }
  return { start, targets: Int32Array.from(t) };
}

/**
 * Longest-path levels (Kahn over dependencies) of the scheduled nodes, in the order they were
 * settled, with each node's cost-weighted distance when `weights` is given.
 */
function levels(
  n: number,
  kept: readonly number[][],
  scheduled: Uint8Array | undefined,
  weights: Float64Array | undefined,
): { level: Int32Array; order: number[]; dist: Float64Array | undefined } {
  const level = new Int32Array(n).fill(-1);
  const remaining = new Int32Array(n);
  const dependents: number[][] = Array.from({ length: n }, () => []);
  for (let v = 0; v < n; v++) {
    remaining[v] = kept[v]!.length;
    for (const w of kept[v]!) dependents[w]!.push(v);
  }
  const dist = weights ? new Float64Array(n) : undefined;
  const order: number[] = [];
  for (let v = 0; v < n; v++) {
    if ((!scheduled || scheduled[v]) && remaining[v] === 0) {
      order.push(v);
      level[v] = 0;
    }
  }
  for (let qi = 0; qi < order.length; qi++) {
    const v = order[qi]!;
    let l = 0;
    let d = 0;
    for (const w of kept[v]!) {
      if (level[w]! + 1 > l) l = level[w]! + 1;
      if (dist && dist[w]! > d) d = dist[w]!;
    }
    level[v] = l;
    if (dist) dist[v] = d + weights![v]!;
    for (const u of dependents[v]!) if (--remaining[u]! === 0) order.push(u);
  }
  return { level, order, dist };
}

/** The longest chain by `score`, dependency first; ties go to the node that sorts first. */
function longestChain(
  order: readonly number[],
  kept: readonly number[][],
  score: (v: number) => number,
  before: (x: number, y: number) => boolean,
): number[] {
  const better = (x: number, y: number) =>
    y < 0 || score(x) > score(y) || (score(x) === score(y) && before(x, y));
  let end = -1;
  for (const v of order) if (better(v, end)) end = v;
  if (end < 0) return [];
  const path = [end];
  for (let v = end; kept[v]!.length > 0; ) {
    let next = -1;
    for (const w of kept[v]!) if (better(w, next)) next = w;
    path.push(next);
    v = next;
  }
  return path.reverse();
}

export function schedule(
  n: number,
  adj: Adjacency,
  scheduled: Uint8Array | undefined,
  opts: ScheduleOptions,
): Schedule {
  const a = scheduled ? induced(n, adj, scheduled) : adj;
  const sccs = stronglyConnected(n, a);
  const { kept, dropped } =
    opts.policy === 'bootstrap'
      ? { kept: bootstrapEdges(n, a, sccs.comp), dropped: [] }
      : serialEdges(n, a, sccs.comp);
  const { level, order, dist } = levels(n, kept, scheduled, opts.weights);

  const names = opts.names;
  const before = (x: number, y: number) => (names ? names[x]! < names[y]! : x < y);
  const waves: number[][] = [];
  for (const v of order) {
    const l = level[v]!;
    while (waves.length <= l) waves.push([]);
    waves[l]!.push(v);
  }
  for (const w of waves) w.sort((x, y) => (before(x, y) ? -1 : before(y, x) ? 1 : 0));

  const criticalPath = longestChain(order, kept, (v) => level[v]!, before);
  const result: Schedule = { policy: opts.policy, sccs, level, waves, dropped, criticalPath };
  if (dist) {
    const path = longestChain(order, kept, (v) => dist[v]!, before);
    result.weighted = { path, cost: path.length > 0 ? dist[path[path.length - 1]!]! : 0 };
  }
  return result;
}
