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

/** The nodes as indices: who waits on whom (deps outside the set dropped), in a topological order. */
interface Indexed {
  /** `dependents[i]`: indices of the nodes that list node i as a dependency (once each). */
  readonly dependents: readonly number[][];
  /** Number of in-set dependencies of each node. */
  readonly depCount: Int32Array;
  /** Dependencies before dependents. */
  readonly order: Int32Array;
}

function indexed(nodes: readonly CostNode[]): Indexed {
  const n = nodes.length;
  const at = new Map<string, number>();
  for (let i = 0; i < n; i++) at.set(nodes[i]!.id, i);
  const dependents: number[][] = Array.from({ length: n }, () => []);
  const depCount = new Int32Array(n);
  // seen[j] === i + 1: j is already a dependency of i (no Set per node).
  const seen = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (const d of nodes[i]!.deps) {
      const j = at.get(d);
      if (j === undefined || seen[j] === i + 1) continue;
      seen[j] = i + 1;
      depCount[i]!++;
      dependents[j]!.push(i);
    }
  }
  // Kahn's order from the sources.
  const pending = depCount.slice();
  const order = new Int32Array(n);
  let head = 0;
  let tail = 0;
  for (let i = 0; i < n; i++) if (pending[i] === 0) order[tail++] = i;
  while (head < tail) {
    const v = order[head++]!;
    for (const w of dependents[v]!) if (--pending[w]! === 0) order[tail++] = w;
  }
  if (tail !== n) {
    throw new CycleError(nodes.filter((_, i) => pending[i]! > 0).map((x) => x.id));
  }
  return { dependents, depCount, order };
}

/** Longest remaining chain by cost, per index (own cost included). */
function chainLengths(nodes: readonly CostNode[], g: Indexed): Float64Array {
  const cp = new Float64Array(nodes.length);
  for (let k = g.order.length - 1; k >= 0; k--) {
    const v = g.order[k]!;
    let best = 0;
    for (const w of g.dependents[v]!) if (cp[w]! > best) best = cp[w]!;
    cp[v] = nodes[v]!.cost + best;
  }
  return cp;
}

/** Longest remaining chain by number of builds, per index (the build itself included). */
function chainDepths(g: Indexed): Float64Array {
  const depth = new Float64Array(g.order.length);
  for (let k = g.order.length - 1; k >= 0; k--) {
    const v = g.order[k]!;
    let best = 0;
    for (const w of g.dependents[v]!) if (depth[w]! > best) best = depth[w]!;
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
  const share = new Float64Array(nodes.length);
  for (let k = g.order.length - 1; k >= 0; k--) {
    const v = g.order[k]!;
    let sum = nodes[v]!.cost;
    for (const w of g.dependents[v]!) sum += share[w]! / g.depCount[w]!;
    share[v] = sum;
  }
  return share;
}

/** Priorities by id; throws CycleError when deps are not a DAG (the cycle policy must have run). */
export function criticalPathPriorities(nodes: readonly CostNode[]): Map<string, number> {
  const cp = chainLengths(nodes, indexed(nodes));
  return new Map(nodes.map((x, i) => [x.id, cp[i]!]));
}

/** How ready builds are ranked; every ordering ends on the build id, so ties are stable. */
export const ORDERINGS = ['critical-path', 'fifo', 'cp-fanout', 'cp-unlock', 'cp-depth'] as const;
export type Ordering = (typeof ORDERINGS)[number];

/**
 * Per index: the key compared first (higher first), then the tie-break (higher first); with the
 * graph they were computed on, for the scheduler to keep.
 */
export interface Ranks extends Pick<Indexed, 'dependents' | 'depCount'> {
  readonly primary: Float64Array;
  readonly secondary: Float64Array;
}

export function ranks(nodes: readonly CostNode[], ordering: Ordering): Ranks {
  const g = indexed(nodes);
  const graph = { dependents: g.dependents, depCount: g.depCount };
  const n = nodes.length;
  if (ordering === 'fifo') {
    // Plan order: the earlier build first.
    const primary = new Float64Array(n);
    for (let i = 0; i < n; i++) primary[i] = -i;
    return { ...graph, primary, secondary: new Float64Array(n) };
  }
  const primary = chainLengths(nodes, g);
  switch (ordering) {
    case 'critical-path':
      return { ...graph, primary, secondary: new Float64Array(n) };
    case 'cp-fanout':
      return { ...graph, primary, secondary: Float64Array.from(g.dependents, (d) => d.length) };
    case 'cp-unlock':
      return { ...graph, primary, secondary: unlockedWork(nodes, g) };
    case 'cp-depth':
      return { ...graph, primary, secondary: chainDepths(g) };
  }
}
