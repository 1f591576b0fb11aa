import { Heap } from './heap.js';
import { type Ordering, ranks } from './priority.js';

/** One package×arch build of a run, as the plan gives it. */
export interface ScheduledBuild {
  /** `<name>@<arch>`. */
  readonly id: string;
  readonly name: string;
  readonly arch: string;
  /** Ids of builds in this run that must be published first; others count as satisfied. */
  readonly deps: readonly string[];
  /** Estimated duration (ms): recorded durations or `resources` hints. */
  readonly cost: number;
  /** Why it is in the run (`changed`, `dependency changed: busybox`, `not published`). */
  readonly reasons: readonly string[];
}

export type BuildState =
  | { readonly kind: 'blocked'; readonly waitingOn: readonly string[] }
  | { readonly kind: 'ready' }
  | { readonly kind: 'dispatched'; readonly attempt: number }
  | { readonly kind: 'running'; readonly attempt: number; readonly agent: string }
  | { readonly kind: 'succeeded' }
  | { readonly kind: 'failed'; readonly reason: string }
  | { readonly kind: 'skipped'; readonly reason: string };

export type StateKind = BuildState['kind'];

/**
 * Internally a blocked build carries no list: what it waits on is its `unmet` set, sorted only
 * when asked (sorting on every release is O(deps log deps) per edge, the bulk of a 100k run).
 */
type SlotState = Exclude<BuildState, { kind: 'blocked' }> | { readonly kind: 'blocked' };
const BLOCKED: SlotState = { kind: 'blocked' };

export interface SchedulerOptions {
  readonly ordering?: Ordering;
  /** States carried over from an interrupted run (a restarted coordinator). */
  readonly restored?: ReadonlyMap<string, 'succeeded' | 'failed'>;
}

interface Slot {
  readonly build: ScheduledBuild;
  readonly priority: number;
  readonly tie: number;
  state: SlotState;
  attempts: number;
  unmet: Set<string>;
}

/**
 * The coordinator's view of a run, with no I/O: which builds may go now (per arch, highest
 * priority first, only as many as there are free slots, so priority holds), and what a result
 * unblocks or skips. The same inputs always give the same order.
 */
export class Scheduler {
  readonly #slots = new Map<string, Slot>();
  readonly #dependents = new Map<string, string[]>();
  readonly #ready = new Map<string, Heap<Slot>>();

  constructor(builds: readonly ScheduledBuild[], opts: SchedulerOptions = {}) {
    const ordering = opts.ordering ?? 'cp-unlock';
    const { primary, secondary } = ranks(builds, ordering);
    const ids = new Set(builds.map((b) => b.id));
    builds.forEach((b, i) => {
      const unmet = new Set(b.deps.filter((d) => ids.has(d)));
      this.#slots.set(b.id, {
        build: b,
        priority: primary[i]!,
        tie: secondary[i]!,
        state: { kind: 'ready' },
        attempts: 0,
        unmet,
      });
      for (const d of unmet) {
        const list = this.#dependents.get(d);
        if (list) list.push(b.id);
        else this.#dependents.set(d, [b.id]);
      }
    });
    const less = (a: Slot, b: Slot) =>
      a.priority !== b.priority
        ? a.priority > b.priority
        : a.tie !== b.tie
          ? a.tie > b.tie
          : a.build.id < b.build.id;
    for (const arch of new Set(builds.map((b) => b.arch))) this.#ready.set(arch, new Heap(less));

    for (const [id, outcome] of opts.restored ?? []) {
      const s = this.#slots.get(id);
      if (!s) continue;
      s.state =
        outcome === 'succeeded'
          ? { kind: 'succeeded' }
          : { kind: 'failed', reason: 'failed in the interrupted run' };
    }
    for (const s of this.#slots.values()) {
      if (s.state.kind === 'succeeded')
        for (const d of this.#dependents.get(s.build.id) ?? []) this.#slots.get(d)!.unmet.delete(s.build.id);
    }
    for (const s of this.#slots.values()) if (s.state.kind === 'failed') this.#skipDependents(s.build.id);
    for (const s of this.#slots.values()) {
      if (s.state.kind !== 'ready') continue;
      if (s.unmet.size > 0) s.state = BLOCKED;
      else this.#ready.get(s.build.arch)!.push(s);
    }
  }

  #slot(id: string): Slot {
    const s = this.#slots.get(id);
    if (!s) throw new Error(`no build ${id} in this run`);
    return s;
  }

  /** Takes up to `free` ready builds of `arch`, highest priority first, and marks them dispatched. */
  take(arch: string, free: number): ScheduledBuild[] {
    const heap = this.#ready.get(arch);
    const out: ScheduledBuild[] = [];
    while (heap && out.length < free) {
      const s = heap.pop();
      if (!s) break;
      // Settled while it waited (a cached failure, a result that came in late): not dispatched.
      if (s.state.kind !== 'ready') continue;
      s.attempts++;
      s.state = { kind: 'dispatched', attempt: s.attempts };
      out.push(s.build);
    }
    return out;
  }

  /** Marks one ready build dispatched out of priority order (a resumed run's builds in flight). */
  claim(id: string): boolean {
    const s = this.#slot(id);
    if (s.state.kind !== 'ready') return false;
    s.attempts++;
    s.state = { kind: 'dispatched', attempt: s.attempts };
    return true;
  }

  readyCount(arch: string): number {
    return this.#ready.get(arch)?.size ?? 0;
  }

  started(id: string, agent: string): void {
    const s = this.#slot(id);
    if (s.state.kind === 'dispatched' || s.state.kind === 'running') {
      s.state = { kind: 'running', attempt: s.attempts, agent };
    }
  }

  /** A transient fault (agent lost, daemon unreachable): the build goes back to the ready set. */
  requeue(id: string): void {
    const s = this.#slot(id);
    if (s.state.kind !== 'dispatched' && s.state.kind !== 'running') return;
    s.state = { kind: 'ready' };
    this.#ready.get(s.build.arch)!.push(s);
  }

  /** Published: returns the builds this made ready. */
  succeeded(id: string): ScheduledBuild[] {
    const s = this.#slot(id);
    if (s.state.kind === 'succeeded') return [];
    s.state = { kind: 'succeeded' };
    const now: ScheduledBuild[] = [];
    for (const d of this.#dependents.get(id) ?? []) {
      const t = this.#slots.get(d)!;
      t.unmet.delete(id);
      if (t.state.kind !== 'blocked') continue;
      if (t.unmet.size === 0) {
        t.state = { kind: 'ready' };
        this.#ready.get(t.build.arch)!.push(t);
        now.push(t.build);
      }
    }
    return now;
  }

  /** Failed for good: returns the builds skipped because of it (transitively). */
  failed(id: string, reason: string): ScheduledBuild[] {
    const s = this.#slot(id);
    if (s.state.kind === 'failed' || s.state.kind === 'succeeded') return [];
    s.state = { kind: 'failed', reason };
    return this.#skipDependents(id);
  }

  #skipDependents(id: string): ScheduledBuild[] {
    const skipped: ScheduledBuild[] = [];
    const stack: [string, string][] = (this.#dependents.get(id) ?? []).map((d) => [d, id]);
    while (stack.length > 0) {
      const [d, cause] = stack.pop()!;
      const t = this.#slots.get(d)!;
      if (t.state.kind !== 'blocked') continue;
      t.state = { kind: 'skipped', reason: `dependency failed: ${this.#slot(cause).build.name}` };
      skipped.push(t.build);
      for (const x of this.#dependents.get(d) ?? []) stack.push([x, cause]);
    }
    return skipped;
  }

  state(id: string): BuildState {
    const s = this.#slot(id);
    return s.state.kind === 'blocked' ? { kind: 'blocked', waitingOn: [...s.unmet].sort() } : s.state;
  }

  attempts(id: string): number {
    return this.#slot(id).attempts;
  }

  priority(id: string): number {
    return this.#slot(id).priority;
  }

  counts(): Record<StateKind, number> {
    const c: Record<StateKind, number> = {
      blocked: 0,
      ready: 0,
      dispatched: 0,
      running: 0,
      succeeded: 0,
      failed: 0,
      skipped: 0,
    };
    for (const s of this.#slots.values()) c[s.state.kind]++;
    return c;
  }

  /** Nothing is ready, in flight or waiting any more. */
  done(): boolean {
    const c = this.counts();
    return c.blocked + c.ready + c.dispatched + c.running === 0;
  }

  builds(): ScheduledBuild[] {
    return [...this.#slots.values()].map((s) => s.build);
  }
}
