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
 * Internally a blocked build carries no list, only a count: what it waits on is worked out when
 * asked (sorting a list on every release is O(deps log deps) per edge, the bulk of a 100k run).
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
  /** Dependencies in the run not yet published (each counted once). */
  unmet: number;
}

/**
 * The coordinator's view of a run, with no I/O: which builds may go now (per arch, highest
 * priority first, only as many as there are free slots, so priority holds), and what a result
 * unblocks or skips. The same inputs always give the same order. Builds are held by index, with
 * the dependents lists the priorities were computed from: no per-build set or string-keyed map
 * beyond the id lookup (a 100,000-build run stays light on the heap).
 */
export class Scheduler {
  readonly #slots: Slot[];
  readonly #at = new Map<string, number>();
  readonly #dependents: readonly (readonly number[])[];
  readonly #ready = new Map<string, Heap<Slot>>();
  /**
   * Waits found while the run goes (`waitFor`): builds whose environment would have installed an
   * older provider of what another build of the run makes. Producer → waiters, waiter → producers.
   */
  readonly #waiters = new Map<number, number[]>();
  readonly #waitsOn = new Map<number, number[]>();

  constructor(builds: readonly ScheduledBuild[], opts: SchedulerOptions = {}) {
    const ordering = opts.ordering ?? 'cp-unlock';
    const { primary, secondary, dependents, depCount } = ranks(builds, ordering);
    this.#dependents = dependents;
    this.#slots = builds.map((b, i) => {
      this.#at.set(b.id, i);
      return {
        build: b,
        priority: primary[i]!,
        tie: secondary[i]!,
        state: depCount[i]! > 0 ? BLOCKED : { kind: 'ready' },
        attempts: 0,
        unmet: depCount[i]!,
      };
    });
    const less = (a: Slot, b: Slot) =>
      a.priority !== b.priority
        ? a.priority > b.priority
        : a.tie !== b.tie
          ? a.tie > b.tie
          : a.build.id < b.build.id;
    for (const arch of new Set(builds.map((b) => b.arch))) this.#ready.set(arch, new Heap(less));

    const failed: number[] = [];
    for (const [id, outcome] of opts.restored ?? []) {
      const i = this.#at.get(id);
      if (i === undefined) continue;
      const s = this.#slots[i]!;
      if (outcome === 'succeeded') {
        s.state = { kind: 'succeeded' };
        for (const d of dependents[i]!) {
          const t = this.#slots[d]!;
          if (--t.unmet === 0 && t.state.kind === 'blocked') t.state = { kind: 'ready' };
        }
      } else {
        s.state = { kind: 'failed', reason: 'failed in the interrupted run' };
        failed.push(i);
      }
    }
    for (const i of failed) this.#skipDependents(i);
    for (const s of this.#slots) if (s.state.kind === 'ready') this.#ready.get(s.build.arch)!.push(s);
  }

  #slot(id: string): Slot {
    const i = this.#at.get(id);
    if (i === undefined) throw new Error(`no build ${id} in this run`);
    return this.#slots[i]!;
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

  /**
   * A build in flight (or just taken) must wait for other builds of the run first: its
   * environment would install an older provider of what they make. It goes back to `blocked`
   * until they are published (skipped if one fails), or straight back to the ready set when none
   * of them is still to come. A producer that is settled, unknown, the build itself, or one that
   * (transitively) waits for this build is not waited for: no wait can close a cycle. `undispatch`
   * takes back the attempt `take` counted (the build never went out). Returns the ids waited for.
   */
  waitFor(id: string, on: readonly string[], opts: { readonly undispatch?: boolean } = {}): string[] {
    const s = this.#slot(id);
    if (s.state.kind !== 'dispatched' && s.state.kind !== 'running') return [];
    const i = this.#at.get(id)!;
    if (opts.undispatch) s.attempts--;
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
      s.unmet++;
      added.push(p);
    }
    if (s.unmet > 0) s.state = BLOCKED;
    else {
      s.state = { kind: 'ready' };
      this.#ready.get(s.build.arch)!.push(s);
    }
    return added;
  }

  /** Not settled: still to be built (blocked, ready or in flight). */
  #open(j: number): boolean {
    const k = this.#slots[j]!.state.kind;
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
    if (this.#slots[from]!.state.kind !== 'blocked') return false;
    const seen = new Set<number>([from]);
    const stack = [from];
    while (stack.length > 0) {
      const at = stack.pop()!;
      const next: number[] = [...(this.#waitsOn.get(at) ?? [])];
      for (const d of this.#slots[at]!.build.deps) {
        const j = this.#at.get(d);
        if (j !== undefined) next.push(j);
      }
      for (const j of next) {
        if (j === target) return true;
        if (seen.has(j) || this.#slots[j]!.state.kind !== 'blocked') continue;
        seen.add(j);
        stack.push(j);
      }
    }
    return false;
  }

  /** Published: returns the builds this made ready. */
  succeeded(id: string): ScheduledBuild[] {
    const s = this.#slot(id);
    if (s.state.kind === 'succeeded') return [];
    s.state = { kind: 'succeeded' };
    const now: ScheduledBuild[] = [];
    const i = this.#at.get(id)!;
    for (const d of [...this.#dependents[i]!, ...(this.#waiters.get(i) ?? [])]) {
      const t = this.#slots[d]!;
      if (--t.unmet > 0 || t.state.kind !== 'blocked') continue;
      t.state = { kind: 'ready' };
      this.#ready.get(t.build.arch)!.push(t);
      now.push(t.build);
    }
    return now;
  }

  /** Failed for good: returns the builds skipped because of it (transitively). */
  failed(id: string, reason: string): ScheduledBuild[] {
    const s = this.#slot(id);
    if (s.state.kind === 'failed' || s.state.kind === 'succeeded') return [];
    s.state = { kind: 'failed', reason };
    return this.#skipDependents(this.#at.get(id)!);
  }

  #skipDependents(i: number): ScheduledBuild[] {
    const skipped: ScheduledBuild[] = [];
    const reason = `dependency failed: ${this.#slots[i]!.build.name}`;
    const stack = [...this.#dependents[i]!, ...(this.#waiters.get(i) ?? [])];
    while (stack.length > 0) {
      const d = stack.pop()!;
      const t = this.#slots[d]!;
      if (t.state.kind !== 'blocked') continue;
      t.state = { kind: 'skipped', reason };
      skipped.push(t.build);
      for (const x of this.#dependents[d]!) stack.push(x);
      for (const x of this.#waiters.get(d) ?? []) stack.push(x);
    }
    return skipped;
  }

  state(id: string): BuildState {
    const s = this.#slot(id);
    if (s.state.kind !== 'blocked') return s.state;
    const waiting = new Set<string>();
    for (const d of s.build.deps) {
      const j = this.#at.get(d);
      if (j !== undefined && this.#slots[j]!.state.kind !== 'succeeded') waiting.add(d);
    }
    for (const j of this.#waitsOn.get(this.#at.get(id)!) ?? [])
      if (this.#slots[j]!.state.kind !== 'succeeded') waiting.add(this.#slots[j]!.build.id);
    return { kind: 'blocked', waitingOn: [...waiting].sort() };
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
    for (const s of this.#slots) c[s.state.kind]++;
    return c;
  }

  /** Nothing is ready, in flight or waiting any more. */
  done(): boolean {
    const c = this.counts();
    return c.blocked + c.ready + c.dispatched + c.running === 0;
  }

  builds(): ScheduledBuild[] {
    return this.#slots.map((s) => s.build);
  }
}
