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
  /**
   * A run bound by per-build throughput, not only slots: each build needs `atStart` of CPU
   * before it starts (dispatch, job, the agent taking it) and `atEnd` after it ends (report,
   * publish, records), on `cores` shared by the whole farm, first come first served; it holds
   * its slot throughout. Build-all-wolfi's fake builds of a few milliseconds are in this regime.
   */
  readonly cpu?: { readonly atStart: number; readonly atEnd: number; readonly cores: number };
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
  if (o.cpu) return simulateWithCpu(builds, o, o.cpu);
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

/** A step of a build in the CPU model: its CPU work before the start, its run, its CPU work after the end. */
interface Step {
  readonly at: number;
  readonly seq: number;
  readonly b: ScheduledBuild;
  readonly kind: 'start-cpu' | 'run' | 'end-cpu';
}

function simulateWithCpu(
  builds: readonly ScheduledBuild[],
  o: SimulationOptions,
  cpu: NonNullable<SimulationOptions['cpu']>,
): SimulationResult {
  const s = new Scheduler(builds, { ordering: o.ordering });
  const arches = [...new Set(builds.map((b) => b.arch))].sort();
  const running = new Map<string, number>(arches.map((a) => [a, 0]));
  const events = new Heap<Step>((a, b) => (a.at !== b.at ? a.at < b.at : a.seq < b.seq));
  const waiting: { b: ScheduledBuild; kind: 'start-cpu' | 'end-cpu' }[] = [];
  let head = 0;
  let busy = 0;
  let seq = 0;
  let now = 0;
  let decisions = 0;
  const work = () => {
    while (busy < cpu.cores && head < waiting.length) {
      const w = waiting[head++]!;
      busy++;
      events.push({ at: now + (w.kind === 'start-cpu' ? cpu.atStart : cpu.atEnd), seq: seq++, ...w });
    }
  };
  const pump = () => {
    for (const arch of arches) {
      const n = running.get(arch)!;
      if (n >= o.slots) continue;
      const taken = s.take(arch, o.slots - n);
      running.set(arch, n + taken.length);
      for (const b of taken) {
        decisions++;
        waiting.push({ b, kind: 'start-cpu' });
      }
    }
    work();
  };
  pump();
  for (let e = events.pop(); e; e = events.pop()) {
    now = e.at;
    if (e.kind === 'run') {
      waiting.push({ b: e.b, kind: 'end-cpu' });
      work();
      continue;
    }
    busy--;
    if (e.kind === 'start-cpu') events.push({ at: now + o.actual(e.b), seq: seq++, b: e.b, kind: 'run' });
    else {
      running.set(e.b.arch, running.get(e.b.arch)! - 1);
      s.succeeded(e.b.id);
      decisions++;
    }
    const next = events.peek();
    if (next === undefined || next.at !== now) pump();
    else work();
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
