import { IntHeap } from './heap.js';
import { DEFAULT_ORDERING, type Ordering, ranks } from './priority.js';

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
 * Internally a blocked build carries no list, only a count: what it waits on is worked out when
 * asked (sorting a list on every release is O(deps log deps) per edge, the bulk of a 100k run).
 */
type SlotState = Exclude<BuildState, { kind: 'blocked' }> | { readonly kind: 'blocked' };
const BLOCKED: SlotState = { kind: 'blocked' };
const READY: SlotState = { kind: 'ready' };
const SUCCEEDED: SlotState = { kind: 'succeeded' };

export interface SchedulerOptions {
  readonly ordering?: Ordering;
  /** States carried over from an interrupted run (a restarted coordinator). */
  readonly restored?: ReadonlyMap<string, 'succeeded' | 'failed'>;
}

/**
 * The coordinator's view of a run, with no I/O: which builds may go now (per arch, highest
 * priority first, only as many as there are free slots, so priority holds), and what a result
 * unblocks or skips. The same inputs always give the same order. Builds are held by index in
 * flat arrays: the dependents in one compressed array, the ready queues as heaps of integer
 * ranks (priorities are fixed for the run, so they are sorted once), no per-build set or object
 * beyond its state (a 100,000-build run stays light on the heap and the collector).
 */
export class Scheduler {
  readonly #builds: readonly ScheduledBuild[];
  readonly #state: SlotState[];
  readonly #attempts: Int32Array;
  /** Dependencies in the run not yet published (each counted once). */
  readonly #unmet: Int32Array;
  readonly #priority: Float64Array;
  /** Rank (0 first) of each build, and the build of each rank. */
  readonly #rank: Int32Array;
  readonly #byRank: Int32Array;
  readonly #at: Map<string, number>;
  readonly #dependentsStart: Int32Array;
  readonly #dependents: Int32Array;
  /** Index into `#ready` of each build's arch. */
  readonly #arch: Int32Array;
  readonly #ready: IntHeap[] = [];
  /**
   * `cp-mix`: per arch, the ready builds again in plan order (by index), and how many builds
   * `take` has handed out: every other one comes from here. A build taken from one queue stays
   * in the other until popped there (skipped: it is no longer ready).
   */
  readonly #planOrder: IntHeap[] | undefined;
  readonly #taken: number[] = [];
  /** Ready builds per arch (the queues also hold builds settled or taken since). */
  readonly #readyCount: number[] = [];
  readonly #archIndex = new Map<string, number>();
  /**
   * Waits found while the run goes (`waitFor`): builds whose environment would have installed an
   * older provider of what another build of the run makes. Producer → waiters, waiter → producers.
   */
  readonly #waiters = new Map<number, number[]>();
  readonly #waitsOn = new Map<number, number[]>();

  constructor(builds: readonly ScheduledBuild[], opts: SchedulerOptions = {}) {
    const ordering = opts.ordering ?? DEFAULT_ORDERING;
    const r = ranks(builds, ordering);
    this.#planOrder = ordering === 'cp-mix' ? [] : undefined;
    const n = builds.length;
    this.#builds = builds;
    this.#at = r.at;
    this.#dependentsStart = r.dependentsStart;
    this.#dependents = r.dependents;
    this.#priority = r.primary;
    this.#rank = r.order;
    this.#byRank = new Int32Array(n);
    for (let i = 0; i < n; i++) this.#byRank[r.order[i]!] = i;
    this.#unmet = r.depCount.slice();
    this.#attempts = new Int32Array(n);
    this.#arch = new Int32Array(n);
    this.#state = new Array<SlotState>(n);
    for (let i = 0; i < n; i++) {
      const arch = builds[i]!.arch;
      let a = this.#archIndex.get(arch);
      if (a === undefined) {
        a = this.#ready.length;
        this.#archIndex.set(arch, a);
        this.#ready.push(new IntHeap());
        this.#planOrder?.push(new IntHeap());
        this.#taken.push(0);
        this.#readyCount.push(0);
      }
      this.#arch[i] = a;
      this.#state[i] = this.#unmet[i]! > 0 ? BLOCKED : READY;
    }

    const failed: number[] = [];
    for (const [id, outcome] of opts.restored ?? []) {
      const i = this.#at.get(id);
      if (i === undefined) continue;
      if (outcome === 'succeeded') {
        this.#state[i] = SUCCEEDED;
        this.#release(i, undefined);
      } else {
        this.#state[i] = { kind: 'failed', reason: 'failed in the interrupted run' };
        failed.push(i);
      }
    }
    for (const i of failed) this.#skipDependents(i);
    for (let i = 0; i < n; i++) if (this.#state[i]!.kind === 'ready') this.#enqueue(i);
  }

  /** `i` is ready now: into its arch's queue(s). */
  #enqueue(i: number): void {
    const a = this.#arch[i]!;
    this.#ready[a]!.push(this.#rank[i]!);
    this.#planOrder?.[a]?.push(i);
    this.#readyCount[a]!++;
  }

  /** The next ready build of arch `a` to hand out, or -1. */
  #next(a: number): number {
    const byPlan = this.#planOrder !== undefined && this.#taken[a]! % 2 === 1;
    for (;;) {
      let i: number;
      if (byPlan) i = this.#planOrder![a]!.pop();
      else {
        const rank = this.#ready[a]!.pop();
        i = rank < 0 ? -1 : this.#byRank[rank]!;
      }
      if (i < 0) return -1;
      // Settled while it waited (a cached failure, a result that came in late), or taken from
      // the other queue: not dispatched.
      if (this.#state[i]!.kind === 'ready') return i;
    }
  }

  #index(id: string): number {
    const i = this.#at.get(id);
    if (i === undefined) throw new Error(`no build ${id} in this run`);
    return i;
  }

  /** Counts a published dependency off each dependent of `i`; those now free become ready (queued when `now` is given). */
  #release(i: number, now: ScheduledBuild[] | undefined): void {
    for (let e = this.#dependentsStart[i]!; e < this.#dependentsStart[i + 1]!; e++)
      this.#countOff(this.#dependents[e]!, now);
    for (const d of this.#waiters.get(i) ?? []) this.#countOff(d, now);
  }

  #countOff(d: number, now: ScheduledBuild[] | undefined): void {
    if (--this.#unmet[d]! > 0 || this.#state[d]!.kind !== 'blocked') return;
    this.#state[d] = READY;
    if (now) {
      this.#enqueue(d);
      now.push(this.#builds[d]!);
    }
  }

  #dispatch(i: number): void {
    this.#readyCount[this.#arch[i]!]!--;
    const attempt = ++this.#attempts[i]!;
    this.#state[i] = { kind: 'dispatched', attempt };
  }

  /** Takes up to `free` ready builds of `arch`, highest priority first, and marks them dispatched. */
  take(arch: string, free: number): ScheduledBuild[] {
    const a = this.#archIndex.get(arch);
    const out: ScheduledBuild[] = [];
    if (a === undefined) return out;
    while (out.length < free) {
      const i = this.#next(a);
      if (i < 0) break;
      this.#taken[a]!++;
      this.#dispatch(i);
      out.push(this.#builds[i]!);
    }
    return out;
  }

  /** Marks one ready build dispatched out of priority order (a resumed run's builds in flight). */
  claim(id: string): boolean {
    const i = this.#index(id);
    if (this.#state[i]!.kind !== 'ready') return false;
    this.#dispatch(i);
    return true;
  }

  readyCount(arch: string): number {
    const a = this.#archIndex.get(arch);
    return a === undefined ? 0 : this.#readyCount[a]!;
  }

  started(id: string, agent: string): void {
    const i = this.#index(id);
    const k = this.#state[i]!.kind;
    if (k === 'dispatched' || k === 'running') {
      this.#state[i] = { kind: 'running', attempt: this.#attempts[i]!, agent };
    }
  }

  /** A transient fault (agent lost, daemon unreachable): the build goes back to the ready set. */
  requeue(id: string): void {
    const i = this.#index(id);
    const k = this.#state[i]!.kind;
    if (k !== 'dispatched' && k !== 'running') return;
    this.#state[i] = READY;
    this.#enqueue(i);
  }

  /**
   * A build in flight (or just taken) must wait for other builds of the run first: its
   * environment would install an older provider of what they make. It goes back to `blocked`
   * until they are published (skipped if one fails), or straight back to the ready set when none
   * of them is still to come. A producer that is settled, unknown, the build itself, or one that
   * (transitively) waits for this build is not waited for: no wait can close a cycle. `undispatch`
   * takes back the attempt `take` counted (the build never went out). Returns the ids waited for.
   */
  waitFor(id: string, on: readonly string[], opts: { readonly undispatch?: boolean } = {}): string[] {
    const i = this.#index(id);
    const k = this.#state[i]!.kind;
    if (k !== 'dispatched' && k !== 'running') return [];
    if (opts.undispatch) this.#attempts[i]!--;
    const added: string[] = [];
    for (const p of new Set(on)) {
      const j = this.#at.get(p);
      if (j === undefined || j === i || !this.#open(j) || this.dependsOn(p, id)) continue;
      const w = this.#waiters.get(j);
      if (w) w.push(i);
      else this.#waiters.set(j, [i]);
      const o = this.#waitsOn.get(i);
      if (o) o.push(j);
      else this.#waitsOn.set(i, [j]);
      this.#unmet[i]!++;
      added.push(p);
    }
    if (this.#unmet[i]! > 0) this.#state[i] = BLOCKED;
    else {
      this.#state[i] = READY;
      this.#enqueue(i);
    }
    return added;
  }

  /** Not settled: still to be built (blocked, ready or in flight). */
  #open(j: number): boolean {
    const k = this.#state[j]!.kind;
    return k === 'blocked' || k === 'ready' || k === 'dispatched' || k === 'running';
  }

  /** Whether `a` may still be built and `b` is not settled: a producer a build may wait for. */
  pending(a: string): boolean {
    const j = this.#at.get(a);
    return j !== undefined && this.#open(j);
  }

  /**
   * Whether `a` waits, directly or through others, for `b` (declared dependencies and waits
   * found while running). Only blocked builds can: a build is blocked while anything it needs is
   * unpublished, so the walk stays among blocked builds.
   */
  dependsOn(a: string, b: string): boolean {
    const from = this.#at.get(a);
    const target = this.#at.get(b);
    if (from === undefined || target === undefined) return false;
    if (this.#state[from]!.kind !== 'blocked') return false;
    const seen = new Set<number>([from]);
    const stack = [from];
    while (stack.length > 0) {
      const at = stack.pop()!;
      const next: number[] = [...(this.#waitsOn.get(at) ?? [])];
      for (const d of this.#builds[at]!.deps) {
        const j = this.#at.get(d);
        if (j !== undefined) next.push(j);
      }
      for (const j of next) {
        if (j === target) return true;
        if (seen.has(j) || this.#state[j]!.kind !== 'blocked') continue;
        seen.add(j);
        stack.push(j);
      }
    }
    return false;
  }

  /** Published: returns the builds this made ready. */
  succeeded(id: string): ScheduledBuild[] {
    const i = this.#index(id);
    const k = this.#state[i]!.kind;
    if (k === 'succeeded') return [];
    if (k === 'ready') this.#readyCount[this.#arch[i]!]!--;
    this.#state[i] = SUCCEEDED;
    const now: ScheduledBuild[] = [];
    this.#release(i, now);
    return now;
  }

  /** Failed for good: returns the builds skipped because of it (transitively). */
  failed(id: string, reason: string): ScheduledBuild[] {
    const i = this.#index(id);
    const k = this.#state[i]!.kind;
    if (k === 'failed' || k === 'succeeded') return [];
    if (k === 'ready') this.#readyCount[this.#arch[i]!]!--;
    this.#state[i] = { kind: 'failed', reason };
    return this.#skipDependents(i);
  }

  #skipDependents(i: number): ScheduledBuild[] {
    const skipped: ScheduledBuild[] = [];
    const skip: SlotState = { kind: 'skipped', reason: `dependency failed: ${this.#builds[i]!.name}` };
    const stack: number[] = [];
    const push = (v: number) => {
      for (let e = this.#dependentsStart[v]!; e < this.#dependentsStart[v + 1]!; e++)
        stack.push(this.#dependents[e]!);
      for (const x of this.#waiters.get(v) ?? []) stack.push(x);
    };
    push(i);
    while (stack.length > 0) {
      const d = stack.pop()!;
      if (this.#state[d]!.kind !== 'blocked') continue;
      this.#state[d] = skip;
      skipped.push(this.#builds[d]!);
      push(d);
    }
    return skipped;
  }

  state(id: string): BuildState {
    const i = this.#index(id);
    const st = this.#state[i]!;
    if (st.kind !== 'blocked') return st;
    const waiting = new Set<string>();
    for (const d of this.#builds[i]!.deps) {
      const j = this.#at.get(d);
      if (j !== undefined && this.#state[j]!.kind !== 'succeeded') waiting.add(d);
    }
    for (const j of this.#waitsOn.get(i) ?? [])
      if (this.#state[j]!.kind !== 'succeeded') waiting.add(this.#builds[j]!.id);
    return { kind: 'blocked', waitingOn: [...waiting].sort() };
  }

  attempts(id: string): number {
    return this.#attempts[this.#index(id)]!;
  }

  priority(id: string): number {
    return this.#priority[this.#index(id)]!;
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
    for (const st of this.#state) c[st.kind]++;
    return c;
  }

  /** Nothing is ready, in flight or waiting any more. */
  done(): boolean {
    const c = this.counts();
    return c.blocked + c.ready + c.dispatched + c.running === 0;
  }

  builds(): ScheduledBuild[] {
    return [...this.#builds];
  }
}
