import type { ScheduledBuild } from '../scheduler/index.js';

type Phase = 'blocked' | 'ready' | 'running' | 'done';

interface Entry {
  readonly arch: string;
  phase: Phase;
  unmet: number;
  /** performance.now() of becoming ready, being dispatched, being started. */
  readyAt?: number;
  dispatchedAt?: number;
  startedAt?: number;
}

/**
 * Each build's phase as its run's events tell it (blocked on dependencies, ready for a slot,
 * running, done) and when it entered it, for the metrics' gauges and wait histograms.
 */
export class Readiness {
  readonly #builds = new Map<string, Entry>();
  readonly #dependents = new Map<string, string[]>();
  readonly #counts = new Map<string, Record<Phase, number>>();

  plan(builds: readonly ScheduledBuild[]): void {
    const now = performance.now();
    const ids = new Set(builds.map((b) => b.id));
    for (const b of builds) {
      const deps = b.deps.filter((d) => ids.has(d));
      for (const d of deps) {
        const list = this.#dependents.get(d);
        if (list) list.push(b.id);
        else this.#dependents.set(d, [b.id]);
      }
      if (!this.#counts.has(b.arch)) this.#counts.set(b.arch, { blocked: 0, ready: 0, running: 0, done: 0 });
      const e: Entry = { arch: b.arch, phase: 'blocked', unmet: deps.length };
      this.#builds.set(b.id, e);
      this.#counts.get(b.arch)!.blocked++;
      if (deps.length === 0) this.#move(e, 'ready', now);
    }
  }

  arches(): string[] {
    return [...this.#counts.keys()];
  }

  count(arch: string, phase: Phase): number {
    return this.#counts.get(arch)?.[phase] ?? 0;
  }

  #move(e: Entry, phase: Phase, now: number): void {
    const c = this.#counts.get(e.arch)!;
    c[e.phase]--;
    c[phase]++;
    e.phase = phase;
    if (phase === 'ready') e.readyAt = now;
  }

  /** How long it was ready (ms), when known. */
  dispatched(id: string, now: number): number | undefined {
    const e = this.#builds.get(id);
    if (!e || e.phase === 'done') return undefined;
    const waited = e.readyAt !== undefined ? now - e.readyAt : undefined;
    if (e.phase !== 'running') this.#move(e, 'running', now);
    e.dispatchedAt = now;
    e.startedAt = undefined;
    return waited;
  }

  /** How long from dispatch to start (ms), when known. */
  started(id: string, now: number): number | undefined {
    const e = this.#builds.get(id);
    if (!e || e.dispatchedAt === undefined || e.startedAt !== undefined) return undefined;
    e.startedAt = now;
    return now - e.dispatchedAt;
  }

  runningFor(id: string, now: number): number | undefined {
    const e = this.#builds.get(id);
    return e?.startedAt !== undefined ? now - e.startedAt : undefined;
  }

  requeued(id: string, now: number): void {
    const e = this.#builds.get(id);
    if (e && e.phase === 'running') this.#move(e, 'ready', now);
  }

  /** Settled; a success makes dependents whose dependencies are all published ready. */
  settled(id: string, ok: boolean, now: number): void {
    const e = this.#builds.get(id);
    if (!e || e.phase === 'done') return;
    this.#move(e, 'done', now);
    if (!ok) return;
    for (const d of this.#dependents.get(id) ?? []) {
      const de = this.#builds.get(d);
      if (de?.phase !== 'blocked') continue;
      de.unmet--;
      if (de.unmet === 0) this.#move(de, 'ready', now);
    }
  }
}
