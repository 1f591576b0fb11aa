/**
 * Critical-path priority: a build's priority is its own cost plus the largest priority among
 * the builds that wait on it, so the longest remaining chain starts first (Hydra and OBS order
 * ready work the same way; FIFO leaves the long chain for last and stretches the makespan).
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

/** Priorities by id; throws CycleError when deps are not a DAG (the cycle policy must have run). */
export function criticalPathPriorities(nodes: readonly CostNode[]): Map<string, number> {
  const dependents = new Map<string, string[]>();
  const pendingDeps = new Map<string, number>();
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const n of nodes) {
    let count = 0;
    for (const d of n.deps) {
      if (!byId.has(d)) continue;
      count++;
      const list = dependents.get(d);
      if (list) list.push(n.id);
      else dependents.set(d, [n.id]);
    }
    pendingDeps.set(n.id, count);
  }
  // Kahn's order from the sources; priorities are then filled in reverse of it.
  const order: string[] = [];
  const queue = nodes.filter((n) => pendingDeps.get(n.id) === 0).map((n) => n.id);
  while (queue.length > 0) {
    const id = queue.pop()!;
    order.push(id);
    for (const dep of dependents.get(id) ?? []) {
      const left = pendingDeps.get(dep)! - 1;
      pendingDeps.set(dep, left);
      if (left === 0) queue.push(dep);
    }
  }
  if (order.length !== nodes.length) {
    throw new CycleError(nodes.filter((n) => (pendingDeps.get(n.id) ?? 0) > 0).map((n) => n.id));
  }
  const prio = new Map<string, number>();
  for (let i = order.length - 1; i >= 0; i--) {
    const id = order[i]!;
    let best = 0;
    for (const d of dependents.get(id) ?? []) best = Math.max(best, prio.get(d)!);
    prio.set(id, byId.get(id)!.cost + best);
  }
  return prio;
}
