import type { AgentEvent, BuildReport } from '@melange2/protocol';
import type { RunPlan } from '../run/plan-run.js';
import type { RunEvent } from '../run/run-types.js';
import { cancelUnfinished } from './cancel-run.js';
import type { RunStore } from './run-store.js';
import {
  BUILD_STAGES,
  type BuildStage,
  type RunTimeline,
  TIMELINE_VERSION,
  type TimelineAgent,
  type TimelineBuild,
} from './timeline-types.js';

const isStage = (s: string): s is BuildStage => (BUILD_STAGES as readonly string[]).includes(s);

/** Builds above which listeners are told every second rather than every 250 ms. */
const BIG_RUN = 2000;

/**
 * How often a changed timeline is stored: every `flushMs`, or every 5 ms per build when that is
 * longer (a 6,800-build timeline is 3 MB of JSON: every 34 s). A crash loses the changes since.
 */
const flushInterval = (flushMs: number, builds: number): number => Math.max(flushMs, builds * 5);

/** Lines of a failure's log tail kept in the timeline (the full log is elsewhere). */
const LOG_TAIL_LINES = 20;

/**
 * What changed since listeners were last told: the builds, and the `update` event's JSON for
 * them (made once per tick however many listeners there are, from the builds' cached JSON).
 */
interface TimelineUpdate {
  readonly changed: readonly TimelineBuild[];
  readonly timeline: RunTimeline;
  json(): string;
}

export type TimelineListener = (u: TimelineUpdate) => void;

export interface TimelineRecorderOptions {
  readonly runId: string;
  readonly plan: RunPlan;
  /** Where the timeline is written while the run goes and at its end. */
  readonly store?: RunStore;
  /** How often a changed timeline is written (default 2 s; longer for big runs: flushInterval). */
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
  /** Dependencies of a build not published yet (absent: all of them), and the builds published. */
  readonly #unmet = new Map<TimelineBuild, number>();
  readonly #releasedIds = new Set<string>();
  /** Stage times from agents' reports, until the build is told succeeded (`report`). */
  readonly #reported = new Map<string, { stage: BuildStage; at: number }[]>();
  /** Per agent: which of its slots are taken. */
  readonly #slots = new Map<string, boolean[]>();
  readonly #listeners = new Set<TimelineListener>();
  readonly #now: () => number;
  #changed = new Set<TimelineBuild>();
  /** Each build's JSON as last serialised; dropped when it changes (`#touch`). */
  readonly #json = new Map<TimelineBuild, string>();
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
    // Listeners hear of changes every 250 ms (every second in a big run: a build's changes in
    // that second go as one); the store gets them every `flushMs` or more (flushInterval).
    const big = this.timeline.builds.length > BIG_RUN;
    this.#timer = setInterval(() => this.#tick(false), big ? 1000 : 250);
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
    if (e.type === 'published') {
      this.#touch(b).publish = e.publish;
      return;
    }
    const now = this.#now();
    switch (e.type) {
      case 'dispatched':
        this.#reported.delete(b.id);
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
      case 'succeeded': {
        const stages = this.#reported.get(b.id);
        this.#reported.delete(b.id);
        if (stages && stages.length > 0) b.stages = stages;
        this.#finish(b, 'succeeded', now);
        b.agent = e.agent;
        b.steps = { total: e.steps.total, cached: e.steps.cached };
        this.#released(b, now);
        break;
      }
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

  /**
   * An agent's report (distributed runs): the stage times of a succeeded build, kept until the
   * coordinator says it succeeded (it may still refuse the report). Bounded: one per build.
   */
  report(r: BuildReport): void {
    if (r.runId !== this.#o.runId || r.outcome.kind !== 'succeeded' || !r.outcome.stages) return;
    if (!this.#byId.has(r.id)) return;
    const stages = r.outcome.stages
      .filter((s): s is { stage: BuildStage; at: number } => isStage(s.stage))
      .slice(0, 16)
      .map((s) => ({ stage: s.stage, at: s.at }));
    this.#reported.set(r.id, stages);
  }

  /** Heartbeats from the agents (the link's events). */
  agentEvent(e: AgentEvent): void {
    if (e.type !== 'heartbeat') return;
    const now = this.#now();
    let a = this.timeline.agents.find((x) => x.id === e.agent);
    const known = a !== undefined;
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
    // Stored again only when the agent changed: a heartbeat alone is news for the dashboard.
    if (!known || a.arch !== e.arch || a.slots !== e.slots || a.alive !== e.alive) this.#dirty = true;
    a.arch = e.arch;
    a.slots = e.slots;
    a.lastHeartbeat = now;
    a.alive = e.alive;
    this.#agentsChanged = true;
  }

  /** The run is over: its final timeline is written (errors are logged, not thrown). */
  async finish(): Promise<void> {
    clearInterval(this.#timer);
    const now = this.#now();
    // Stopped with builds out on agents: nothing of this run will finish them.
    for (const id of cancelUnfinished(this.timeline, now)) {
      const b = this.#byId.get(id);
      if (b) this.#touch(b);
    }
    this.timeline.status = 'finished';
    this.timeline.finishedAt = now;
    this.#dirty = true;
    this.#agentsChanged = true;
    this.#tick(true);
    await this.#writing;
  }

  #touch(b: TimelineBuild): TimelineBuild {
    this.#changed.add(b);
    this.#json.delete(b);
    this.#dirty = true;
    return b;
  }

  #finish(b: TimelineBuild, state: TimelineBuild['state'], now: number): void {
    this.#freeSlot(b);
    this.#touch(b).state = state;
    b.finishedAt = now;
  }

  /**
   * A published (or cut-off) build: dependents whose dependencies are all done are ready. Counted
   * down (not each dependent's dependencies looked at again: a base package has thousands).
   */
  #released(b: TimelineBuild, now: number): void {
    if (this.#releasedIds.has(b.id)) return;
    this.#releasedIds.add(b.id);
    for (const d of this.#dependents.get(b.id) ?? []) {
      const left = (this.#unmet.get(d) ?? d.deps.length) - 1;
      this.#unmet.set(d, left);
      if (left <= 0 && d.readyAt === undefined) this.#touch(d).readyAt = now;
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

  /** A build's JSON, serialised again only after it changed. */
  #buildJson(b: TimelineBuild): string {
    let s = this.#json.get(b);
    if (s === undefined) {
      s = JSON.stringify(b);
      this.#json.set(b, s);
    }
    return s;
  }

  /** The JSON array of these builds, from their cached JSON. */
  buildsJson(builds: readonly TimelineBuild[]): string {
    return `[${builds.map((b) => this.#buildJson(b)).join(',')}]`;
  }

  /** The `update` event of the dashboard's stream for these builds (run status and agents with them). */
  updateJson(builds: readonly TimelineBuild[]): string {
    const t = this.timeline;
    const rest = JSON.stringify({ status: t.status, finishedAt: t.finishedAt, agents: t.agents });
    return `{"builds":${this.buildsJson(builds)},${rest.slice(1)}`;
  }

  /** The whole timeline as JSON (what is stored): only builds changed since the last call are serialised. */
  timelineJson(): string {
    const { builds, ...rest } = this.timeline;
    const head = JSON.stringify(rest);
    return `${head.slice(0, -1)},"builds":${this.buildsJson(builds)}}`;
  }

  #tick(write: boolean): void {
    if (this.#changed.size > 0 || this.#agentsChanged) {
      const changed = [...this.#changed];
      this.#changed = new Set();
      this.#agentsChanged = false;
      if (this.#listeners.size > 0) {
        let json: string | undefined;
        const u: TimelineUpdate = {
          changed,
          timeline: this.timeline,
          json: () => {
            json ??= this.updateJson(changed);
            return json;
          },
        };
        for (const l of this.#listeners) l(u);
      }
    }
    const now = this.#now();
    if (!write && now - this.#lastWrite < flushInterval(this.#o.flushMs ?? 2000, this.timeline.builds.length))
      return;
    if (!this.#dirty || !this.#o.store) return;
    this.#lastWrite = now;
    this.#dirty = false;
    const store = this.#o.store;
    // Serialised when the previous write is done (the newest state; only changed builds again).
    this.#writing = this.#writing
      .then(() => store.put(this.timeline, this.timelineJson()))
      .catch((e: unknown) => {
        if (this.#warned) return;
        this.#warned = true;
        this.#o.log?.(`run timeline: writing to ${store.description} failed: ${(e as Error).message}`);
      });
  }
}
