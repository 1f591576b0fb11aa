import type { AgentEvent } from '@melange2/protocol';
import type { RunPlan } from '../run/plan-run.js';
import type { RunEvent } from '../run/run-types.js';
import type { RunStore } from './run-store.js';
import {
  type BuildStage,
  type RunTimeline,
  TIMELINE_VERSION,
  type TimelineAgent,
  type TimelineBuild,
} from './timeline-types.js';

/** Lines of a failure's log tail kept in the timeline (the full log is elsewhere). */
const LOG_TAIL_LINES = 20;

export type TimelineListener = (changed: readonly TimelineBuild[], t: RunTimeline) => void;

export interface TimelineRecorderOptions {
  readonly runId: string;
  readonly plan: RunPlan;
  /** Where the timeline is written while the run goes and at its end. */
  readonly store?: RunStore;
  /** How often a changed timeline is written (default 2 s). */
  readonly flushMs?: number;
  readonly log?: (line: string) => void;
  readonly now?: () => number;
  /**
   * The same run's timeline before it was interrupted: its start, and the builds it finished
   * that this plan no longer has (published since, so up to date now) stay in the timeline.
   */
  readonly prior?: RunTimeline;
}

/**
 * Builds a run's timeline from the coordinator's events and the agents' heartbeats: when each
 * build became ready, was dispatched, started and finished, on which agent slot, how it ended.
 * Listeners (the dashboard's server-sent events) get the builds that changed.
 */
export class TimelineRecorder {
  readonly timeline: RunTimeline;
  readonly #o: TimelineRecorderOptions;
  readonly #byId = new Map<string, TimelineBuild>();
  readonly #dependents = new Map<string, TimelineBuild[]>();
  /** Per agent: which of its slots are taken. */
  readonly #slots = new Map<string, boolean[]>();
  readonly #listeners = new Set<TimelineListener>();
  readonly #now: () => number;
  #changed = new Set<TimelineBuild>();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Changed since the last write, and since listeners were told. */
  #dirty = false;
  #agentsChanged = false;
  #lastWrite = 0;
  #writing: Promise<void> = Promise.resolve();
  #warned = false;

  constructor(o: TimelineRecorderOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    const ids = new Set(o.plan.builds.map((b) => b.id));
    const builds = o.plan.builds.map(
      (b): TimelineBuild => ({
        id: b.id,
        name: b.name,
        arch: b.arch,
        version: b.version,
        deps: b.deps.filter((d) => ids.has(d)),
        state: 'queued',
        attempts: 0,
      }),
    );
    for (const b of builds) {
      this.#byId.set(b.id, b);
      for (const d of b.deps) {
        const list = this.#dependents.get(d);
        if (list) list.push(b);
        else this.#dependents.set(d, [b]);
      }
    }
    const prior = o.prior?.runId === o.runId ? o.prior : undefined;
    const kept = (prior?.builds ?? []).filter(
      (b) =>
        !this.#byId.has(b.id) && (b.state === 'succeeded' || b.state === 'failed' || b.state === 'skipped'),
    );
    const keptIds = new Set(kept.map((b) => b.id));
    builds.push(...kept);
    this.timeline = {
      version: TIMELINE_VERSION,
      runId: o.runId,
      repo: o.plan.root,
      arches: [...new Set([...(prior?.arches ?? []), ...o.plan.builds.map((b) => b.arch)])],
      status: 'running',
      startedAt: prior?.startedAt ?? this.#now(),
      builds,
      upToDate: o.plan.upToDate
        .filter((u) => !keptIds.has(u.id))
        .map((u) => ({ id: u.id, version: u.version })),
      agents: [],
    };
  }

  /** The run begins: builds without dependencies in the run are ready now. */
  begin(): void {
    const now = this.#now();
    for (const b of this.timeline.builds) if (b.deps.length === 0) this.#touch(b).readyAt = now;
    // Listeners hear of changes every 250 ms; the store gets them every `flushMs`.
    this.#timer = setInterval(() => this.#tick(false), 250);
    this.#timer.unref?.();
    this.#tick(true);
  }

  subscribe(fn: TimelineListener): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** The coordinator's events (`onEvent`). */
  event(e: RunEvent): void {
    if (e.type === 'no-agents') return;
    if (e.type === 'refused') {
      this.#refused(e);
      return;
    }
    const b = this.#byId.get(e.build.id);
    if (!b) return;
    const now = this.#now();
    switch (e.type) {
      case 'dispatched':
        this.#freeSlot(b);
        this.#touch(b).dispatchedAt = now;
        b.attempts = Math.max(b.attempts, e.attempt);
        b.state = 'queued';
        delete b.startedAt;
        delete b.stages;
        break;
      case 'started':
        this.#touch(b).startedAt = now;
        b.state = 'running';
        b.agent = e.agent;
        b.slot = this.#takeSlot(e.agent);
        b.attempts = Math.max(b.attempts, e.attempt);
        break;
      case 'transient':
      case 'waiting':
        this.#touch(b);
        break;
      case 'succeeded':
        this.#finish(b, 'succeeded', now);
        b.agent = e.agent;
        b.steps = { total: e.steps.total, cached: e.steps.cached };
        this.#released(b, now);
        break;
      case 'failed':
        this.#finish(b, 'failed', now);
        b.reason = e.reason;
        if (e.agent) b.agent = e.agent;
        b.logTail = e.logTail.slice(-LOG_TAIL_LINES);
        break;
      case 'skipped':
        this.#finish(b, 'skipped', now);
        b.reason = e.reason;
        break;
      case 'cut-off':
        this.#finish(b, 'up-to-date', now);
        b.reason = e.reason;
        this.#released(b, now);
        break;
    }
  }

  /**
   * A refused report is no failure of the package; only a build given up after its reports kept
   * being refused ends here, shown among the failures with the refusal as its reason.
   */
  #refused(e: Extract<RunEvent, { type: 'refused' }>): void {
    const b = e.build ? this.#byId.get(e.build.id) : undefined;
    if (!b) return;
    if (e.outcome !== 'given-up') {
      this.#touch(b);
      return;
    }
    this.#finish(b, 'failed', this.#now());
    b.reason = `reports refused (${e.code}): ${e.reason}`;
  }

  /** A stage of a running build began (the engine's events, where the agent is in-process). */
  stage(id: string, stage: BuildStage): void {
    const b = this.#byId.get(id);
    if (b?.state !== 'running') return;
    const stages = b.stages ?? [];
    if (stages.length >= 16) return;
    stages.push({ stage, at: this.#now() });
    this.#touch(b).stages = stages;
  }

  /** Heartbeats from the agents (the link's events). */
  agentEvent(e: AgentEvent): void {
    if (e.type !== 'heartbeat') return;
    const now = this.#now();
    let a = this.timeline.agents.find((x) => x.id === e.agent);
    if (!a) {
      a = {
        id: e.agent,
        arch: e.arch,
        slots: e.slots,
        lastHeartbeat: now,
        alive: e.alive,
      } satisfies TimelineAgent;
      this.timeline.agents.push(a);
    }
    a.arch = e.arch;
    a.slots = e.slots;
    a.lastHeartbeat = now;
    a.alive = e.alive;
    this.#dirty = true;
    this.#agentsChanged = true;
  }

  /** The run is over: its final timeline is written (errors are logged, not thrown). */
  async finish(): Promise<void> {
    clearInterval(this.#timer);
    this.timeline.status = 'finished';
    this.timeline.finishedAt = this.#now();
    this.#dirty = true;
    this.#agentsChanged = true;
    this.#tick(true);
    await this.#writing;
  }

  #touch(b: TimelineBuild): TimelineBuild {
    this.#changed.add(b);
    this.#dirty = true;
    return b;
  }

  #finish(b: TimelineBuild, state: TimelineBuild['state'], now: number): void {
    this.#freeSlot(b);
    this.#touch(b).state = state;
    b.finishedAt = now;
  }

  /** A published (or cut-off) build: dependents whose dependencies are all done are ready. */
  #released(b: TimelineBuild, now: number): void {
    for (const d of this.#dependents.get(b.id) ?? []) {
      if (d.readyAt !== undefined) continue;
      const done = d.deps.every((x) => {
        const s = this.#byId.get(x)?.state;
        return s === 'succeeded' || s === 'up-to-date';
      });
      if (done) this.#touch(d).readyAt = now;
    }
  }

  #takeSlot(agent: string): number {
    const slots = this.#slots.get(agent) ?? [];
    this.#slots.set(agent, slots);
    let i = slots.indexOf(false);
    if (i < 0) i = slots.length;
    slots[i] = true;
    return i;
  }

  #freeSlot(b: TimelineBuild): void {
    if (b.agent === undefined || b.slot === undefined || b.state !== 'running') return;
    const slots = this.#slots.get(b.agent);
    if (slots) slots[b.slot] = false;
  }

  #tick(write: boolean): void {
    if (this.#changed.size > 0 || this.#agentsChanged) {
      const changed = [...this.#changed];
      this.#changed = new Set();
      this.#agentsChanged = false;
      for (const l of this.#listeners) l(changed, this.timeline);
    }
    const now = this.#now();
    if (!write && now - this.#lastWrite < (this.#o.flushMs ?? 2000)) return;
    if (!this.#dirty || !this.#o.store) return;
    this.#lastWrite = now;
    this.#dirty = false;
    const store = this.#o.store;
    this.#writing = this.#writing
      .then(() => store.put(this.timeline))
      .catch((e: unknown) => {
        if (this.#warned) return;
        this.#warned = true;
        this.#o.log?.(`run timeline: writing to ${store.description} failed: ${(e as Error).message}`);
      });
  }
}
