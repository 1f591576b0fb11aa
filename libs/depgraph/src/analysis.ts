/**
 * Graph analysis on compressed adjacency arrays: SCCs (iterative Tarjan), shortest cycles,
 * reverse closure. Own code rather than graphology: it runs on typed arrays with no per-node
 * objects (bench/depgraph-wolfi.bench.ts prints the comparison).
 */

/** Out-adjacency in CSR form: node i's successors are `targets[start[i] .. start[i+1])`. */
export interface Adjacency {
  start: Int32Array;
  targets: Int32Array;
}

export interface Sccs {
  /** Component of each node. Components are numbered in the order Tarjan completes them, which
   *  for dependency edges (dependent → dependency) is dependencies first: a topological order. */
  comp: Int32Array;
  /** Members of each component, ascending node index. */
  members: number[][];
}

/** Tarjan's algorithm with an explicit stack: no recursion, so no depth limit. */
export function stronglyConnected(n: number, adj: Adjacency): Sccs {
  const { start, targets } = adj;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack = new Int32Array(n);
  let sp = 0;
  const callNode = new Int32Array(n);
  const callEdge = new Int32Array(n);
  let csp = 0;
  const comp = new Int32Array(n).fill(-1);
  const members: number[][] = [];
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    callNode[0] = root;
    callEdge[0] = start[root]!;
    csp = 1;
    index[root] = low[root] = counter++;
    stack[sp++] = root;
    onStack[root] = 1;
    while (csp > 0) {
      const v = callNode[csp - 1]!;
      const e = callEdge[csp - 1]!;
      if (e < start[v + 1]!) {
        callEdge[csp - 1] = e + 1;
        const w = targets[e]!;
        if (index[w] === -1) {
          index[w] = low[w] = counter++;
          stack[sp++] = w;
          onStack[w] = 1;
          callNode[csp] = w;
          callEdge[csp] = start[w]!;
          csp++;
        } else if (onStack[w] && index[w]! < low[v]!) {
          low[v] = index[w]!;
        }
        continue;
      }
      csp--;
      if (csp > 0) {
        const parent = callNode[csp - 1]!;
        if (low[v]! < low[parent]!) low[parent] = low[v]!;
      }
      if (low[v] === index[v]) {
        const c = members.length;
        const m: number[] = [];
        let w: number;
        do {
          w = stack[--sp]!;
          onStack[w] = 0;
          comp[w] = c;
          m.push(w);
        } while (w !== v);
        m.sort((a, b) => a - b);
        members.push(m);
      }
    }
  }
  return { comp, members };
}

/**
 * The shortest cycle inside one component (BFS from every member over edges that stay inside);
 * ties go to the cycle through the lowest start index. Returns node indices, first == start,
 * not repeated at the end.
 */
export function shortestCycle(
  adj: Adjacency,
  comp: Int32Array,
  c: number,
  members: readonly number[],
): number[] {
  const { start, targets } = adj;
  let best: number[] = [];
  const parent = new Map<number, number>();
  for (const s of members) {
    parent.clear();
    const queue = [s];
    let found = -1;
    for (let qi = 0; qi < queue.length && found < 0; qi++) {
      const v = queue[qi]!;
      // A cycle through s found at BFS depth d is at least as long as the best: stop early.
      if (best.length > 0 && depthOf(v, s, parent) + 1 >= best.length) break;
      for (let e = start[v]!; e < start[v + 1]!; e++) {
        const w = targets[e]!;
        if (comp[w] !== c) continue;
        if (w === s) {
          found = v;
          break;
        }
        if (!parent.has(w)) {
          parent.set(w, v);
          queue.push(w);
        }
      }
    }
    if (found < 0) continue;
    const path = [found];
    for (let v = found; v !== s; ) {
      v = parent.get(v)!;
      path.push(v);
    }
    path.reverse();
    if (best.length === 0 || path.length < best.length) best = path;
    if (best.length === 2) break;
  }
  return best;
}

function depthOf(v: number, s: number, parent: Map<number, number>): number {
  let d = 0;
  while (v !== s) {
    v = parent.get(v)!;
    d++;
  }
  return d;
}

/** The shortest path from `from` to `to` using only nodes allowed by `ok` (BFS), or undefined. */
export function shortestPath(
  adj: Adjacency,
  from: number,
  to: number,
  ok: (v: number) => boolean,
): number[] | undefined {
  const { start, targets } = adj;
  const parent = new Map<number, number>([[from, -1]]);
  const queue = [from];
  for (let qi = 0; qi < queue.length; qi++) {
    const v = queue[qi]!;
    if (v === to) {
      const path = [v];
      for (let p = parent.get(v)!; p !== -1; p = parent.get(p)!) path.push(p);
      return path.reverse();
    }
    for (let e = start[v]!; e < start[v + 1]!; e++) {
      const w = targets[e]!;
      if (!parent.has(w) && ok(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return undefined;
}

export interface ClosureHit {
  node: number;
  depth: number;
  /** The node one step closer to the seed set: the dependency that brought this node in. */
  via: number;
  /** The seed it was reached from. */
  seed: number;
}

/**
 * Everything that depends, directly or transitively, on any seed (seeds excluded), BFS over
 * reverse edges, bounded by `maxDepth` (1 = direct dependents only).
 */
export function reverseClosure(inAdj: Adjacency, seeds: Iterable<number>, maxDepth = Infinity): ClosureHit[] {
  const { start, targets } = inAdj;
  const seen = new Map<number, ClosureHit>();
  const seedSet = new Set(seeds);
  let frontier: ClosureHit[] = [...seedSet].map((s) => ({ node: s, depth: 0, via: -1, seed: s }));
  const out: ClosureHit[] = [];
  for (let depth = 1; depth <= maxDepth && frontier.length > 0; depth++) {
    const next: ClosureHit[] = [];
    for (const h of frontier) {
      for (let e = start[h.node]!; e < start[h.node + 1]!; e++) {
        const w = targets[e]!;
        if (seedSet.has(w) || seen.has(w)) continue;
        const hit = { node: w, depth, via: h.node, seed: h.seed };
        seen.set(w, hit);
        next.push(hit);
        out.push(hit);
      }
    }
    frontier = next;
  }
  return out;
}

/**
 * The condensation: one node per component, an edge between components wherever a member edge
 * crosses them (deduplicated). Components keep Tarjan's numbering, so every edge goes from a
 * higher number to a lower one (dependent → dependency) and index order is a topological order.
 */
export function condensation(adj: Adjacency, sccs: Sccs): Adjacency {
  const k = sccs.members.length;
  const start = new Int32Array(k + 1);
  const t: number[] = [];
  const seen = new Int32Array(k).fill(-1);
  for (let c = 0; c < k; c++) {
    for (const v of sccs.members[c]!) {
      for (let e = adj.start[v]!; e < adj.start[v + 1]!; e++) {
        const d = sccs.comp[adj.targets[e]!]!;
        if (d !== c && seen[d] !== c) {
          seen[d] = c;
          t.push(d);
        }
      }
    }
    start[c + 1] = t.length;
  }
  return { start, targets: Int32Array.from(t) };
}
