/**
 * A discrete-event simulation of a run through the real Scheduler: `slots` builds at a time per
 * arch, each taking its actual duration on a simulated clock, a result releasing its dependents
 * at once. No I/O and no wall clock, so the ordering question is answered exactly and the same
 * inputs always give the same makespan.
 */
import { Heap } from './heap.js';
import { type Ordering, criticalPathPriorities } from './priority.js';
import { type ScheduledBuild, Scheduler } from './scheduler.js';

export interface SimulationOptions {
  readonly ordering: Ordering;
  readonly slots: number;
  /** The duration a build really takes; the scheduler sees only `cost`. */
  readonly actual: (b: ScheduledBuild) => number;
  /** Simulated delay between a build's end and its dependents' release (publishing). */
  readonly releaseDelay?: number;
}

export interface SimulationResult {
  readonly makespan: number;
  /** Builds dispatched and results processed. */
  readonly decisions: number;
}

interface Finish {
  readonly at: number;
  readonly seq: number;
  readonly id: string;
  readonly arch: string;
}

export function simulateRun(builds: readonly ScheduledBuild[], o: SimulationOptions): SimulationResult {
  const s = new Scheduler(builds, { ordering: o.ordering });
  const arches = [...new Set(builds.map((b) => b.arch))].sort();
  const running = new Map<string, number>(arches.map((a) => [a, 0]));
  const events = new Heap<Finish>((a, b) => (a.at !== b.at ? a.at < b.at : a.seq < b.seq));
  const delay = o.releaseDelay ?? 0;
  let seq = 0;
  let now = 0;
  let decisions = 0;
  const pump = () => {
    for (const arch of arches) {
      const busy = running.get(arch)!;
      if (busy >= o.slots) continue;
      const taken = s.take(arch, o.slots - busy);
      running.set(arch, busy + taken.length);
      for (const b of taken) {
        decisions++;
        events.push({ at: now + o.actual(b) + delay, seq: seq++, id: b.id, arch });
      }
    }
  };
  pump();
  for (let e = events.pop(); e; e = events.pop()) {
    now = e.at;
    running.set(e.arch, running.get(e.arch)! - 1);
    s.succeeded(e.id);
    decisions++;
    // Everything that ends at the same instant is in before the next decision.
    const next = events.peek();
    if (next === undefined || next.at !== now) pump();
  }
  return { makespan: now, decisions };
}

/**
 * No schedule can beat this: per arch, the longest chain by actual duration, and the total
 * actual work spread evenly over the slots.
 */
export function makespanLowerBound(
  builds: readonly ScheduledBuild[],
  slots: number,
  actual: (b: ScheduledBuild) => number,
): number {
  let lb = 0;
  for (const arch of new Set(builds.map((b) => b.arch))) {
    const bs = builds
      .filter((b) => b.arch === arch)
      .map((b) => ({ id: b.id, deps: b.deps, cost: actual(b) }));
    let cp = 0;
    for (const p of criticalPathPriorities(bs).values()) cp = Math.max(cp, p);
    const work = bs.reduce((sum, b) => sum + b.cost, 0);
    lb = Math.max(lb, cp, work / slots);
  }
  return lb;
}
