import type { TimelineBuild } from './timeline-types.js';

export interface CriticalPath {
  /** From the first build of the chain to the last. */
  readonly ids: readonly string[];
  /** Sum of the chain's execution times (ms). */
  readonly ms: number;
}

type PathBuild = Pick<TimelineBuild, 'id' | 'deps' | 'startedAt' | 'finishedAt'>;

/** A build's real execution time: started → finished, 0 when it never ran. */
export function execMs(b: Pick<TimelineBuild, 'startedAt' | 'finishedAt'>): number {
  return b.startedAt !== undefined && b.finishedAt !== undefined
    ? Math.max(0, b.finishedAt - b.startedAt)
    : 0;
}

/**
 * The run's actual critical path: the chain of dependencies with the longest sum of real
 * execution times (builds that did not run count 0). Deps outside the set are ignored; builds on
 * a cycle (which a plan never has) are left out. O(builds + edges).
 */
export function criticalPath(builds: readonly PathBuild[]): CriticalPath {
  const byId = new Map(builds.map((b) => [b.id, b]));
  const indegree = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const b of builds) {
    let n = 0;
    for (const d of b.deps) {
      if (!byId.has(d) || d === b.id) continue;
      n++;
      const list = dependents.get(d);
      if (list) list.push(b.id);
      else dependents.set(d, [b.id]);
    }
    indegree.set(b.id, n);
  }
  // Kahn's order; best[id] is the longest chain ending at id, via prev[id].
  const best = new Map<string, number>();
  const prev = new Map<string, string>();
  const queue = builds.filter((b) => indegree.get(b.id) === 0).map((b) => b.id);
  for (const id of queue) best.set(id, execMs(byId.get(id)!));
  let end: string | undefined;
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    const here = best.get(id)!;
    if (end === undefined || here > best.get(end)!) end = id;
    for (const s of dependents.get(id) ?? []) {
      const through = here + execMs(byId.get(s)!);
      if (!best.has(s) || through > best.get(s)!) {
        best.set(s, through);
        prev.set(s, id);
      }
      const left = indegree.get(s)! - 1;
      indegree.set(s, left);
      if (left === 0) queue.push(s);
    }
  }
  if (end === undefined || best.get(end) === 0) return { ids: [], ms: 0 };
  const ids: string[] = [];
  for (let at: string | undefined = end; at !== undefined; at = prev.get(at)) ids.push(at);
  ids.reverse();
  return { ids, ms: best.get(end)! };
}
