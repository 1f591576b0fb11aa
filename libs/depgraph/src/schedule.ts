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

export function schedule(
  n: number,
  adj: Adjacency,
  scheduled: Uint8Array | undefined,
  opts: ScheduleOptions,
): Schedule {
  const a = scheduled ? induced(n, adj, scheduled) : adj;
  const sccs = stronglyConnected(n, a);
  const { comp } = sccs;
  const kept: number[][] = Array.from({ length: n }, () => []);
  const dropped: DroppedEdge[] = [];
  if (opts.policy === 'bootstrap') {
    for (let v = 0; v < n; v++) {
      for (let e = a.start[v]!; e < a.start[v + 1]!; e++) {
        const w = a.targets[e]!;
        if (comp[w] !== comp[v]) kept[v]!.push(w);
      }
    }
  } else {
    // Only an edge inside an SCC can close a cycle; reachability is checked over the kept edges.
    const keptAdj = () => {
      const start = new Int32Array(n + 1);
      const t: number[] = [];
      for (let v = 0; v < n; v++) {
        for (const w of kept[v]!) t.push(w);
        start[v + 1] = t.length;
      }
      return { start, targets: Int32Array.from(t) };
    };
    const intra: number[][] = Array.from({ length: n }, () => []);
    for (let v = 0; v < n; v++) {
      for (let e = a.start[v]!; e < a.start[v + 1]!; e++) {
        const w = a.targets[e]!;
        if (comp[w] !== comp[v]) kept[v]!.push(w);
        else {
          // Reachability w →* v over intra edges kept so far (small: within one SCC).
          const c = comp[v]!;
          const seen = new Set<number>([w]);
          const stack = [w];
          let reaches = false;
          while (stack.length > 0 && !reaches) {
            const x = stack.pop()!;
            if (x === v) reaches = true;
            else
              for (const y of intra[x]!) {
                if (!seen.has(y) && comp[y] === c) {
                  seen.add(y);
                  stack.push(y);
                }
              }
          }
          if (reaches) dropped.push({ from: v, to: w, cycle: [] });
          else {
            intra[v]!.push(w);
            kept[v]!.push(w);
          }
        }
      }
    }
    if (dropped.length > 0) {
      const ka = keptAdj();
      for (const d of dropped)
        d.cycle = shortestPath(ka, d.to, d.from, (x) => comp[x] === comp[d.from]) ?? [];
    }
  }

  // Longest-path levels (Kahn over dependencies), and the critical paths.
  const level = new Int32Array(n).fill(-1);
  const remaining = new Int32Array(n);
  const dependents: number[][] = Array.from({ length: n }, () => []);
  for (let v = 0; v < n; v++) {
    remaining[v] = kept[v]!.length;
    for (const w of kept[v]!) dependents[w]!.push(v);
  }
  const weights = opts.weights;
  const dist = weights ? new Float64Array(n) : undefined;
  const queue: number[] = [];
  for (let v = 0; v < n; v++) {
    if ((!scheduled || scheduled[v]) && remaining[v] === 0) {
      queue.push(v);
      level[v] = 0;
    }
  }
  for (let qi = 0; qi < queue.length; qi++) {
    const v = queue[qi]!;
    let l = 0;
    let d = 0;
    for (const w of kept[v]!) {
      if (level[w]! + 1 > l) l = level[w]! + 1;
      if (dist && dist[w]! > d) d = dist[w]!;
    }
    level[v] = l;
    if (dist) dist[v] = d + weights![v]!;
    for (const u of dependents[v]!) if (--remaining[u]! === 0) queue.push(u);
  }

  const names = opts.names;
  const before = (x: number, y: number) => (names ? names[x]! < names[y]! : x < y);
  const waves: number[][] = [];
  for (const v of queue) {
    const l = level[v]!;
    while (waves.length <= l) waves.push([]);
    waves[l]!.push(v);
  }
  for (const w of waves) w.sort((x, y) => (before(x, y) ? -1 : before(y, x) ? 1 : 0));

  const walk = (score: (v: number) => number, endOk: (v: number) => boolean) => {
    let end = -1;
    for (const v of queue)
      if (endOk(v) && (end < 0 || score(v) > score(end) || (score(v) === score(end) && before(v, end))))
        end = v;
    if (end < 0) return [];
    const path = [end];
    for (let v = end; kept[v]!.length > 0; ) {
      let next = -1;
      for (const w of kept[v]!)
        if (next < 0 || score(w) > score(next) || (score(w) === score(next) && before(w, next))) next = w;
      path.push(next);
      v = next;
    }
    return path.reverse();
  };
  const criticalPath = walk(
    (v) => level[v]!,
    () => true,
  );
  const result: Schedule = { policy: opts.policy, sccs, level, waves, dropped, criticalPath };
  if (dist) {
    const path = walk(
      (v) => dist[v]!,
      () => true,
    );
    result.weighted = { path, cost: path.length > 0 ? dist[path[path.length - 1]!]! : 0 };
  }
  return result;
}
