/**
 * Priorities of ready builds. The base is the critical path: a build's own cost plus the largest
 * priority among the builds that wait on it, so the longest remaining chain starts first (Hydra
 * and OBS order ready work the same way; FIFO leaves the long chain for last and stretches the
 * makespan). Orderings differ in how they break ties among equal chains.
 */
export interface CostNode {
  readonly id: string;
  readonly deps: readonly string[];
  readonly cost: number;
}

export class CycleError extends Error {
  override readonly name = 'CycleError';
  constructor(readonly members: readonly string[]) {
    super(
      `the build plan has a cycle among: ${members.slice(0, 10).join(', ')}${members.length > 10 ? ', …' : ''}`,
    );
  }
}

/**
 * The nodes as indices: who waits on whom (deps outside the set dropped), in a topological order.
 * Dependents are one compressed array (node i's are `dependents[dependentsStart[i] ..
 * dependentsStart[i + 1])`), not an array per node: at 100,000 builds that is 100,000 fewer
 * objects for the collector to trace.
 */
interface Indexed {
  /** Id → index. */
  readonly at: Map<string, number>;
  readonly dependentsStart: Int32Array;
  readonly dependents: Int32Array;
  /** Number of in-set dependencies of each node. */
  readonly depCount: Int32Array;
  /** Dependencies before dependents. */
  readonly order: Int32Array;
}

function indexed(nodes: readonly CostNode[]): Indexed {
  const n = nodes.length;
  const at = new Map<string, number>();
  for (let i = 0; i < n; i++) at.set(nodes[i]!.id, i);
  // Each edge resolved once (one map lookup per dependency), as (dependency, dependent) pairs.
  let from = new Int32Array(1024);
  let to = new Int32Array(1024);
  let m = 0;
  const depCount = new Int32Array(n);
  const count = new Int32Array(n + 1);
  // seen[j] === i + 1: j is already a dependency of i (no Set per node).
  const seen = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (const d of nodes[i]!.deps) {
      const j = at.get(d);
      if (j === undefined || seen[j] === i + 1) continue;
      seen[j] = i + 1;
      depCount[i]!++;
      count[j + 1]!++;
      if (m === from.length) {
        const f = new Int32Array(m * 2);
        f.set(from);
        from = f;
        const t = new Int32Array(m * 2);
        t.set(to);
        to = t;
      }
      from[m] = j;
      to[m++] = i;
    }
  }
  for (let j = 0; j < n; j++) count[j + 1]! += count[j]!;
  const dependentsStart = count;
  const fill = count.slice(0, n);
  const dependents = new Int32Array(m);
  // In dependent order per dependency, as the per-node lists were.
  for (let e = 0; e < m; e++) dependents[fill[from[e]!]!++] = to[e]!;
  // Kahn's order from the sources.
  const pending = depCount.slice();
  const order = new Int32Array(n);
  let head = 0;
  let tail = 0;
  for (let i = 0; i < n; i++) if (pending[i] === 0) order[tail++] = i;
  while (head < tail) {
    const v = order[head++]!;
    for (let e = dependentsStart[v]!; e < dependentsStart[v + 1]!; e++) {
      const w = dependents[e]!;
      if (--pending[w]! === 0) order[tail++] = w;
    }
  }
  if (tail !== n) {
    throw new CycleError(nodes.filter((_, i) => pending[i]! > 0).map((x) => x.id));
  }
  return { at, dependentsStart, dependents, depCount, order };
}

/** Longest remaining chain by cost, per index (own cost included). */
function chainLengths(nodes: readonly CostNode[], g: Indexed): Float64Array {
  const { order, dependentsStart: start, dependents } = g;
  const cp = new Float64Array(nodes.length);
  for (let k = order.length - 1; k >= 0; k--) {
    const v = order[k]!;
    let best = 0;
    for (let e = start[v]!; e < start[v + 1]!; e++)
      if (cp[dependents[e]!]! > best) best = cp[dependents[e]!]!;
    cp[v] = nodes[v]!.cost + best;
  }
  return cp;
}

/** Longest remaining chain by number of builds, per index (the build itself included). */
function chainDepths(g: Indexed): Float64Array {
  const { order, dependentsStart: start, dependents } = g;
  const depth = new Float64Array(order.length);
  for (let k = order.length - 1; k >= 0; k--) {
    const v = order[k]!;
    let best = 0;
    for (let e = start[v]!; e < start[v + 1]!; e++)
      if (depth[dependents[e]!]! > best) best = depth[dependents[e]!]!;
    depth[v] = 1 + best;
  }
  return depth;
}

/**
 * The work a build unlocks: its own cost plus, from each dependent, that dependent's share
 * divided among the dependent's dependencies. Linear in the edges (a transitive descendant count
 * is quadratic), and the shares over the sources add up to the whole run's work.
 */
function unlockedWork(nodes: readonly CostNode[], g: Indexed): Float64Array {
  const { order, dependentsStart: start, dependents } = g;
  const share = new Float64Array(nodes.length);
  for (let k = order.length - 1; k >= 0; k--) {
    const v = order[k]!;
    let sum = nodes[v]!.cost;
    for (let e = start[v]!; e < start[v + 1]!; e++)
      sum += share[dependents[e]!]! / g.depCount[dependents[e]!]!;
    share[v] = sum;
  }
  return share;
}

/** Priorities by id; throws CycleError when deps are not a DAG (the cycle policy must have run). */
export function criticalPathPriorities(nodes: readonly CostNode[]): Map<string, number> {
  const cp = chainLengths(nodes, indexed(nodes));
  return new Map(nodes.map((x, i) => [x.id, cp[i]!]));
}

/**
 * How ready builds are ranked; every ordering ends on the build id, so ties are stable.
 * `cp-mix` ranks as `cp-unlock`, and the scheduler takes every other build of an arch in plan
 * order instead (see Scheduler).
 */
export const ORDERINGS = ['critical-path', 'fifo', 'cp-fanout', 'cp-unlock', 'cp-depth', 'cp-mix'] as const;
export type Ordering = (typeof ORDERINGS)[number];
/**
 * What a run uses when none is named: cp-mix, which keeps cp-unlock's figures in the slot-bound
 * simulation (schedule-sim) and beats FIFO where per-build overhead bounds the run (its
 * transport-bound table, build-all-wolfi at 16 slots), where cp-unlock loses to FIFO.
 */
export const DEFAULT_ORDERING: Ordering = 'cp-mix';

/**
 * Per index: the key compared first (higher first), then the tie-break (higher first), and the
 * resulting position in one total order (`order[i]`: 0 goes first; the build id settles what
 * both keys leave tied); with the graph they were computed on, for the scheduler to keep.
 */
export interface Ranks extends Pick<Indexed, 'at' | 'dependentsStart' | 'dependents' | 'depCount'> {
  readonly primary: Float64Array;
  readonly secondary: Float64Array;
  readonly order: Int32Array;
}

function keys(nodes: readonly CostNode[], g: Indexed, ordering: Ordering): [Float64Array, Float64Array] {
  const n = nodes.length;
  if (ordering === 'fifo') {
    // Plan order: the earlier build first.
    const primary = new Float64Array(n);
    for (let i = 0; i < n; i++) primary[i] = -i;
    return [primary, new Float64Array(n)];
  }
  const primary = chainLengths(nodes, g);
  switch (ordering) {
    case 'critical-path':
      return [primary, new Float64Array(n)];
    case 'cp-fanout': {
      const fanout = new Float64Array(n);
      for (let i = 0; i < n; i++) fanout[i] = g.dependentsStart[i + 1]! - g.dependentsStart[i]!;
      return [primary, fanout];
    }
    case 'cp-unlock':
    case 'cp-mix':
      return [primary, unlockedWork(nodes, g)];
    case 'cp-depth':
      return [primary, chainDepths(g)];
  }
}

export function ranks(nodes: readonly CostNode[], ordering: Ordering): Ranks {
  const g = indexed(nodes);
  const [primary, secondary] = keys(nodes, g, ordering);
  // Sorted once, so a ready queue compares two integers instead of two keys and two ids.
  const byRank = Array.from({ length: nodes.length }, (_, i) => i).sort((a, b) =>
    primary[a] !== primary[b]
      ? primary[b]! - primary[a]!
      : secondary[a] !== secondary[b]
        ? secondary[b]! - secondary[a]!
        : nodes[a]!.id < nodes[b]!.id
          ? -1
          : nodes[a]!.id > nodes[b]!.id
            ? 1
            : 0,
  );
  const order = new Int32Array(nodes.length);
  byRank.forEach((i, r) => {
    order[i] = r;
  });
  const { at, dependentsStart, dependents, depCount } = g;
  return { at, dependentsStart, dependents, depCount, primary, secondary, order };
}
