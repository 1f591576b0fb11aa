import { randomBytes } from 'node:crypto';
import {
  type AgentEvent,
  type BuildJob,
  type BuildReport,
  ENQUEUED_AT,
  jobMessageId,
  parseJobMessageId,
  type ReportAck,
  type Staging,
} from '@melange2/protocol';
import { compareVersions } from '@melange2/apk';
import { type DeadLetter, type StateStore, traceHeaders, type WorkQueue } from '@melange2/queue';
import { context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { IndexPublisher } from '../repository/index.js';
import { type Ordering, Scheduler } from '../scheduler/index.js';
import type { RunBuild, RunPlan } from './plan-run.js';
import { buildKey, failureKey, runKey, type StateRecord } from './state.js';

const tracer = trace.getTracer('melange2-orch-coordinator');

export type RunEvent =
  | { readonly type: 'dispatched'; readonly build: RunBuild; readonly attempt: number }
  | { readonly type: 'started'; readonly build: RunBuild; readonly agent: string; readonly attempt: number }
  | {
      readonly type: 'succeeded';
      readonly build: RunBuild;
      readonly agent: string;
      readonly durationMs: number;
      readonly packages: readonly string[];
      readonly steps: { readonly total: number; readonly cached: number };
    }
  | {
      readonly type: 'failed';
      readonly build: RunBuild;
      readonly reason: string;
      readonly logTail: readonly string[];
      readonly agent?: string;
    }
  | { readonly type: 'skipped'; readonly build: RunBuild; readonly reason: string }
  | { readonly type: 'cut-off'; readonly build: RunBuild; readonly reason: string }
  | {
      readonly type: 'transient';
      readonly build: RunBuild;
      readonly agent: string;
      readonly message: string;
      readonly attempt: number;
    }
  | { readonly type: 'no-agents'; readonly arch: string; readonly waiting: number };

export type FinalState = 'succeeded' | 'failed' | 'skipped' | 'up-to-date';

export interface BuildRow {
  readonly build: RunBuild;
  readonly state: FinalState;
  readonly reason?: string;
  readonly agent?: string;
  readonly durationMs?: number;
  readonly attempts: number;
  readonly logTail?: readonly string[];
}

export interface RunResult {
  readonly runId: string;
  readonly rows: readonly BuildRow[];
  /** Builds handed to agents in this process's lifetime (0 on an up-to-date repository). */
  readonly dispatched: number;
  readonly upToDate: RunPlan['upToDate'];
  readonly problems: readonly string[];
  readonly cycles: readonly string[];
  readonly wallMs: number;
}

export interface CoordinatorOptions {
  readonly runId: string;
  readonly plan: RunPlan;
  readonly queue: WorkQueue<BuildJob>;
  readonly staging: Staging;
  readonly publisher: IndexPublisher;
  readonly state: StateStore<StateRecord>;
  /** The repositories agents install from, after the published one. */
  readonly repositories: readonly string[];
  /**
   * The published repository: a directory, or a URL served by `serveRepository`, which jobs get
   * as `<url>/r/<generation>` (a new generation after each publish) so that an index cached by
   * URL is never older than the dependencies a build was released for.
   */
  readonly published: string;
  readonly keyring?: readonly string[];
  readonly ordering?: Ordering;
  /** Rebuild packages whose last build failed with the same input. */
  readonly retryFailed?: boolean;
  /**
   * Early cutoff: a build that is in the run only because a dependency changed is not built when
   * every such dependency was rebuilt with the same provides (names, `so:`, `cmd:`…) as before.
   */
  readonly earlyCutoff?: boolean;
  /** An agent that sent no heartbeat for this long no longer counts (default 10 s). */
  readonly agentTimeoutMs?: number;
  readonly onEvent?: (e: RunEvent) => void;
}

/** What both run modes take from the command line for their coordinator. */
export interface RunPolicy {
  readonly repositoryAppend?: readonly string[];
  readonly keyringAppend?: readonly string[];
  readonly ordering?: Ordering;
  readonly retryFailed?: boolean;
  readonly earlyCutoff?: boolean;
  readonly agentTimeoutMs?: number;
  readonly onEvent?: (e: RunEvent) => void;
}

export function policyOptions(o: RunPolicy) {
  return {
    repositories: o.repositoryAppend ?? [],
    keyring: o.keyringAppend ?? [],
    ordering: o.ordering,
    retryFailed: o.retryFailed,
    earlyCutoff: o.earlyCutoff,
    agentTimeoutMs: o.agentTimeoutMs,
    onEvent: o.onEvent,
  } satisfies Partial<CoordinatorOptions>;
}

interface AgentSeen {
  readonly arch: string;
  readonly slots: number;
  at: number;
}

interface Flight {
  attempt: number;
  agent?: string;
  lastFault?: string;
  span?: Span;
}

/**
 * Runs a planned build set to the end: dispatches ready builds per arch in priority order, only
 * as many as the agents have free slots; publishes each result (the single index writer) before
 * it releases the dependents; records every state in the store so a restarted coordinator
 * resumes; skips the dependents of failures with the reason.
 */
export class Coordinator {
  readonly #o: CoordinatorOptions;
  readonly #builds: Map<string, RunBuild>;
  readonly #scheduler: Scheduler;
  readonly #agents = new Map<string, AgentSeen>();
  readonly #flights = new Map<string, Flight>();
  readonly #inflight = new Map<string, number>();
  readonly #rows = new Map<string, BuildRow>();
  /** Builds whose result is being published or recorded, and when that is done. */
  readonly #settling = new Map<string, Promise<void>>();
  /** In-flight attempts found in the store at start: republished under the same message id. */
  readonly #resumeAttempts = new Map<string, number>();
  #dispatched = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #finish: (() => void) | undefined;
  #fail: ((e: unknown) => void) | undefined;
  #runSpan: Span | undefined;
  #pumping = false;
  #noAgentsSince = new Map<string, number>();
  #stopped = false;
  /**
   * Open once the interrupted run's in-flight builds are claimed again: a late report that came
   * before would be judged stale and acked, and the re-dispatch under the same message id is then
   * deduplicated away, so that build would never settle.
   */
  #presettle: () => void = () => {};
  readonly #presettled = new Promise<void>((resolve) => {
    this.#presettle = resolve;
  });
  /** Per published build: did its packages' provides change from the published ones? */
  readonly #providesChanged = new Map<string, boolean>();
  readonly #cutOff = new Set<string>();
  readonly #failureRecorded = new Set<string>();
  /** Counts index writes: part of the repository URL jobs get. */
  #generation = 0;
  /** Distinguishes this coordinator's generations from those of the one it may have replaced. */
  readonly #epoch = randomBytes(4).toString('hex');
  readonly #arches: readonly string[];

  constructor(o: CoordinatorOptions) {
    this.#o = o;
    this.#builds = new Map(o.plan.builds.map((b) => [b.id, b]));
    this.#scheduler = new Scheduler(o.plan.builds, o.ordering ? { ordering: o.ordering } : {});
    this.#arches = [...new Set(o.plan.builds.map((b) => b.arch))];
  }

  get scheduler(): Scheduler {
    return this.#scheduler;
  }

  /** Stops dispatching and taking reports, as a crash would (tests of a restart). */
  stop(): void {
    this.#stopped = true;
    this.#presettle();
    clearInterval(this.#timer);
    this.#fail?.(new Error('coordinator stopped'));
  }

  /** Heartbeats and progress from agents (in-process, or from the events subject). */
  agentEvent(e: AgentEvent): void {
    if (e.type === 'heartbeat') {
      if (e.alive) this.#agents.set(e.agent, { arch: e.arch, slots: e.slots, at: Date.now() });
      else this.#agents.delete(e.agent);
      this.#pump();
      return;
    }
    if (e.runId !== this.#o.runId) return;
    const build = this.#builds.get(e.id);
    const f = this.#flights.get(e.id);
    if (!build || !f) return;
    if (e.type === 'started') {
      f.agent = e.agent;
      this.#scheduler.started(e.id, e.agent);
      // Not recorded: `dispatched` is what a restart needs, and a KV write per start costs CPU.
      this.#emit({ type: 'started', build, agent: e.agent, attempt: e.attempt });
    } else {
      f.lastFault = e.message;
      this.#emit({ type: 'transient', build, agent: e.agent, message: e.message, attempt: e.attempt });
    }
  }

  capacity(arch: string): number {
    const cutoff = Date.now() - (this.#o.agentTimeoutMs ?? 10_000);
    let n = 0;
    for (const [id, a] of this.#agents) {
      if (a.at < cutoff) this.#agents.delete(id);
      else if (a.arch === arch) n += a.slots;
    }
    return n;
  }

  async run(): Promise<RunResult> {
    const t0 = performance.now();
    const o = this.#o;
    this.#runSpan = tracer.startSpan(`build-all ${o.runId}`, {
      kind: SpanKind.INTERNAL,
      attributes: { 'cicd.pipeline.run.id': o.runId, 'build.count': o.plan.builds.length },
    });
    const prev = (await o.state.get(runKey))?.value;
    const resuming = prev?.kind === 'run' && prev.runId === o.runId;
    if (!resuming) {
      await o.state.put(runKey, {
        kind: 'run',
        runId: o.runId,
        repo: o.plan.root,
        arches: [...new Set(o.plan.builds.map((b) => b.arch))],
        status: 'running',
        startedAt: Date.now(),
      });
    }
    await this.#preSettle(resuming);
    this.#presettle();
    o.queue.onDead((d) => void this.#dead(d));
    const done = new Promise<void>((resolve, reject) => {
      this.#finish = resolve;
      this.#fail = reject;
    });
    this.#timer = setInterval(() => this.#pump(), 500);
    this.#pump();
    try {
      await done;
    } finally {
      clearInterval(this.#timer);
      for (const f of this.#flights.values()) f.span?.end();
    }
    // Packages staged by agents that died before reporting: never published, now removed.
    await o.staging.purge(`${o.runId}/`).catch(() => undefined);
    const counts = this.#scheduler.counts();
    this.#runSpan.setAttribute(
      'cicd.pipeline.result',
      counts.failed + counts.skipped > 0 ? 'failure' : 'success',
    );
    this.#runSpan.end();
    await o.state.put(runKey, {
      kind: 'run',
      runId: o.runId,
      repo: o.plan.root,
      arches: [...new Set(o.plan.builds.map((b) => b.arch))],
      status: 'finished',
      startedAt: prev?.kind === 'run' ? prev.startedAt : Date.now(),
      finishedAt: Date.now(),
    });
    return {
      runId: o.runId,
      rows: o.plan.builds.map((b) => this.#rows.get(b.id)!),
      dispatched: this.#dispatched,
      upToDate: o.plan.upToDate,
      problems: o.plan.problems,
      cycles: o.plan.cycles,
      wallMs: performance.now() - t0,
    };
  }

  /** Cached failures and, on resume, what the interrupted run settled or left in flight. */
  async #preSettle(resuming: boolean): Promise<void> {
    const st = this.#o.state;
    // Listing first: a fresh run of thousands of builds must not pay a KV round trip per build.
    const failures = new Set(this.#o.retryFailed ? [] : await st.keys('failure.'));
    const inRun = new Set(resuming ? await st.keys('build.') : []);
    const builds = this.#o.plan.builds;
    const found: [StateRecord | undefined, StateRecord | undefined][] = [];
    for (let i = 0; i < builds.length; i += 64) {
      found.push(
        ...(await Promise.all(
          builds.slice(i, i + 64).map(async (b) => {
            const bk = buildKey(b.arch, b.name);
            const fk = failureKey(b.arch, b.name);
            if (failures.has(fk)) this.#failureRecorded.add(b.id);
            return Promise.all([
              inRun.has(bk) ? st.get(bk).then((e) => e?.value) : undefined,
              failures.has(fk) ? st.get(fk).then((e) => e?.value) : undefined,
            ]);
          }),
        )),
      );
    }
    builds.forEach((b, i) => {
      const left = this.#o.plan.excluded.get(b.id);
      if (left !== undefined) {
        if (this.#scheduler.state(b.id).kind !== 'skipped') this.#settleExcluded(b, left);
        return;
      }
      const [r, f] = found[i]!;
      if (r?.kind === 'build' && r.runId === this.#o.runId && r.version === b.version) {
        if (r.state === 'dispatched' || r.state === 'running') this.#resumeAttempts.set(b.id, r.attempt);
        // Succeeded ones are in the published index, so the plan has them as up to date already.
      }
      // Still queued (or being built) from the interrupted run: claimed again under the same message id.
      if (this.#resumeAttempts.has(b.id) && this.#scheduler.claim(b.id)) void this.#dispatch(b);
      if (f?.kind === 'failure' && f.input === b.input && this.#scheduler.state(b.id).kind !== 'skipped') {
        this.#settleFailed(
          b,
          `${f.reason.split('\n')[0]} (failed before with the same input; --retry-failed builds it again)`,
          [],
          undefined,
        );
      }
    });
  }

  #emit(e: RunEvent): void {
    this.#o.onEvent?.(e);
  }

  #pump(): void {
    // Heartbeats come before run() has settled cached failures and resumed attempts.
    if (this.#pumping || !this.#finish || this.#stopped) return;
    this.#pumping = true;
    try {
      for (const arch of this.#arches) {
        const cap = this.capacity(arch);
        const waiting = this.#scheduler.readyCount(arch);
        if (cap === 0 && waiting > 0) {
          const since = this.#noAgentsSince.get(arch) ?? Date.now();
          this.#noAgentsSince.set(arch, since);
          if (Date.now() - since > 5000 && (Date.now() - since) % 30_000 < 500)
            this.#emit({ type: 'no-agents', arch, waiting });
        } else this.#noAgentsSince.delete(arch);
        const free = cap - (this.#inflight.get(arch) ?? 0);
        if (free <= 0) continue;
        for (const t of this.#scheduler.take(arch, free)) {
          const b = this.#builds.get(t.id)!;
          const cause = this.#cutoffCause(b);
          if (cause) this.#settleCutOff(b, cause);
          else void this.#dispatch(b);
        }
      }
    } finally {
      this.#pumping = false;
    }
    // Every build has a row once settled: O(1) where the scheduler's done() counts them all.
    if (this.#rows.size === this.#builds.size && this.#settling.size === 0) this.#finish?.();
  }

  /** The unchanged dependencies that let `b` be cut off, or undefined when it must build. */
  #cutoffCause(b: RunBuild): string | undefined {
    if (!this.#o.earlyCutoff || b.deps.length === 0) return undefined;
    if (!b.reasons.every((r) => r.startsWith('dependency changed: '))) return undefined;
    for (const d of b.deps)
      if (!this.#cutOff.has(d) && this.#providesChanged.get(d) !== false) return undefined;
    return b.deps.map((d) => d.slice(0, d.lastIndexOf('@'))).join(', ');
  }

  #settleCutOff(b: RunBuild, cause: string): void {
    const reason = `early cutoff: the provides of ${cause} did not change`;
    this.#cutOff.add(b.id);
    this.#scheduler.succeeded(b.id);
    this.#rows.set(b.id, { build: b, state: 'up-to-date', reason, attempts: 0 });
    this.#emit({ type: 'cut-off', build: b, reason });
  }

  async #dispatch(b: RunBuild): Promise<void> {
    const resumed = this.#resumeAttempts.get(b.id);
    this.#resumeAttempts.delete(b.id);
    const attempt = resumed ?? this.#scheduler.attempts(b.id);
    const parent = trace.setSpan(context.active(), this.#runSpan!);
    const span = tracer.startSpan(
      `build ${b.id}`,
      {
        attributes: {
          'apk.origin': b.name,
          'apk.version': b.version,
          'build.arch': b.arch,
          'build.reasons': b.reasons.join('; '),
        },
      },
      parent,
    );
    this.#flights.set(b.id, { attempt, span });
    this.#inflight.set(b.arch, (this.#inflight.get(b.arch) ?? 0) + 1);
    const job: BuildJob = {
      runId: this.#o.runId,
      id: b.id,
      name: b.name,
      arch: b.arch,
      version: b.version,
      configFile: b.configFile,
      attempt,
      repositories: [
        /^https?:/.test(this.#o.published)
          ? `${this.#o.published}/r/${this.#epoch}-${this.#generation}`
          : this.#o.published,
        ...this.#o.repositories,
      ],
      keyring: this.#o.keyring ?? [],
      cost: b.cost,
    };
    try {
      const msgId = jobMessageId(this.#o.runId, b.id, attempt);
      this.#emit({ type: 'dispatched', build: b, attempt });
      const send = tracer.startSpan(
        `send ${b.arch}`,
        {
          kind: SpanKind.PRODUCER,
          attributes: {
            'messaging.system': 'nats',
            'messaging.operation.type': 'send',
            'messaging.message.id': msgId,
          },
        },
        trace.setSpan(parent, span),
      );
      const headers = { ...traceHeaders(trace.setSpan(parent, send)), [ENQUEUED_AT]: String(Date.now()) };
      // Concurrently: after a crash in between, the restarted coordinator republishes attempt 1
      // under the same message id (deduplicated), and a late report still finds its build.
      await Promise.all([
        this.#record(b, { state: 'dispatched', attempt }),
        this.#o.queue.publish(b.arch, job, { msgId, headers }),
      ]);
      send.end();
      this.#dispatched++;
    } catch (e) {
      // The queue is unreachable: put it back and let the next pump try again.
      this.#flights.delete(b.id);
      span.end();
      this.#inflight.set(b.arch, (this.#inflight.get(b.arch) ?? 1) - 1);
      this.#scheduler.requeue(b.id);
      this.#emit({
        type: 'transient',
        build: b,
        agent: 'coordinator',
        message: `queueing failed: ${(e as Error).message}`,
        attempt,
      });
    }
  }

  async #record(
    b: RunBuild,
    r: Omit<Extract<StateRecord, { kind: 'build' }>, 'kind' | 'runId' | 'version'>,
  ): Promise<void> {
    await this.#o.state.put(buildKey(b.arch, b.name), {
      kind: 'build',
      runId: this.#o.runId,
      version: b.version,
      ...r,
    });
  }

  #land(b: RunBuild): Flight | undefined {
    const f = this.#flights.get(b.id);
    if (f) {
      this.#flights.delete(b.id);
      this.#inflight.set(b.arch, (this.#inflight.get(b.arch) ?? 1) - 1);
    }
    return f;
  }

  /** A result from an agent: published (or recorded as failed) before the answer goes back. */
  async report(r: BuildReport): Promise<ReportAck> {
    if (this.#stopped) throw new Error('coordinator stopped');
    await this.#presettled;
    if (this.#stopped) throw new Error('coordinator stopped');
    const b = this.#builds.get(r.id);
    if (r.runId !== this.#o.runId || !b) return { ok: true, stale: true };
    // A repeated report (the agent's request timed out) waits for the first one to be recorded:
    // answering at once would let the agent ack a build that a crash could still leave unsettled.
    const inProgress = this.#settling.get(r.id);
    if (inProgress) await inProgress.catch(() => {});
    const kind = this.#scheduler.state(r.id).kind;
    if (kind !== 'dispatched' && kind !== 'running') {
      if (r.outcome.kind === 'succeeded' && !inProgress)
        await this.#o.staging.delete(r.outcome.apks.map((a) => a.key));
      return { ok: true, stale: true };
    }
    const settle = this.#settle(b, r);
    this.#settling.set(r.id, settle);
    try {
      await settle;
    } catch (e) {
      this.#fail?.(e);
      throw e;
    } finally {
      this.#settling.delete(r.id);
      this.#pump();
    }
    return { ok: true };
  }

  async #settle(b: RunBuild, r: BuildReport): Promise<void> {
    if (r.outcome.kind === 'succeeded') {
      await this.#published(b, r, r.outcome);
      return;
    }
    const reason = `${r.outcome.stage} failed: ${r.outcome.message.split('\n')[0]}`;
    this.#settleFailed(b, reason, r.outcome.logTail, r.agent);
    await this.#o.state.put(failureKey(b.arch, b.name), {
      kind: 'failure',
      input: b.input,
      version: b.version,
      reason,
    });
  }

  async #published(
    b: RunBuild,
    r: BuildReport,
    outcome: Extract<BuildReport['outcome'], { kind: 'succeeded' }>,
  ): Promise<void> {
    const f = this.#flights.get(b.id);
    const parent = f?.span ? trace.setSpan(context.active(), f.span) : context.active();
    const span = tracer.startSpan(
      `publish ${b.id}`,
      { attributes: { 'apk.packages': outcome.apks.length } },
      parent,
    );
    const fetched = await Promise.all(outcome.apks.map((a) => this.#o.staging.fetch(a.key)));
    try {
      if (fetched.length > 0) {
        const index = tracer.startSpan(`index ${b.arch}`, {}, trace.setSpan(parent, span));
        try {
          const before = this.#o.earlyCutoff ? (await this.#o.publisher.current(b.arch)).index.entries : [];
          const res = await this.#o.publisher.publish({ arch: b.arch, apks: fetched.map((x) => x.path) });
          index.setAttribute('apk.index.revision', res.revision);
          this.#generation++;
          if (this.#o.earlyCutoff) this.#providesChanged.set(b.id, providesChanged(before, res.entries));
        } finally {
          index.end();
        }
      }
    } catch (e) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
      span.end();
      const reason = `publish failed: ${(e as Error).message}`;
      this.#settleFailed(b, reason, [], r.agent);
      return;
    } finally {
      await Promise.all(fetched.map((x) => x.release()));
    }
    span.end();
    await this.#o.staging.delete(outcome.apks.map((a) => a.key));
    const fl = this.#land(b);
    fl?.span?.setAttribute('cicd.pipeline.task.run.result', 'success');
    fl?.span?.setAttribute('cicd.worker.id', r.agent);
    fl?.span?.setAttribute('build.steps.cached', outcome.steps.cached);
    fl?.span?.setAttribute('build.steps.total', outcome.steps.total);
    fl?.span?.end();
    this.#scheduler.succeeded(b.id);
    this.#rows.set(b.id, {
      build: b,
      state: 'succeeded',
      agent: r.agent,
      durationMs: r.durationMs,
      attempts: fl?.attempt ?? 1,
    });
    await Promise.all([
      this.#record(b, {
        state: 'succeeded',
        attempt: fl?.attempt ?? 1,
        agent: r.agent,
        durationMs: r.durationMs,
      }),
      this.#failureRecorded.has(b.id)
        ? this.#o.state.delete(failureKey(b.arch, b.name)).catch(() => undefined)
        : undefined,
    ]);
    this.#emit({
      type: 'succeeded',
      build: b,
      agent: r.agent,
      durationMs: r.durationMs,
      packages: outcome.apks.map((a) => a.filename),
      steps: outcome.steps,
    });
  }

  /** Left out at planning (a dependency's config does not parse): skipped, and so are its dependents. */
  #settleExcluded(b: RunBuild, reason: string): void {
    const skipped = this.#scheduler.failed(b.id, reason);
    this.#rows.set(b.id, { build: b, state: 'skipped', reason, attempts: 0 });
    this.#emit({ type: 'skipped', build: b, reason });
    for (const s of skipped) {
      const sb = this.#builds.get(s.id)!;
      const why = `dependency left out: ${b.name}`;
      this.#rows.set(s.id, { build: sb, state: 'skipped', reason: why, attempts: 0 });
      this.#emit({ type: 'skipped', build: sb, reason: why });
    }
  }

  #settleFailed(b: RunBuild, reason: string, logTail: readonly string[], agent: string | undefined): void {
    const f = this.#land(b);
    f?.span?.setStatus({ code: SpanStatusCode.ERROR, message: reason });
    f?.span?.setAttribute('cicd.pipeline.task.run.result', 'failure');
    f?.span?.end();
    const skipped = this.#scheduler.failed(b.id, reason);
    this.#rows.set(b.id, {
      build: b,
      state: 'failed',
      reason,
      attempts: f?.attempt ?? 0,
      logTail,
      ...(agent ? { agent } : {}),
    });
    void this.#record(b, { state: 'failed', attempt: f?.attempt ?? 0, reason, logTail: logTail.slice(-20) });
    this.#emit({ type: 'failed', build: b, reason, logTail, ...(agent ? { agent } : {}) });
    for (const s of skipped) {
      const sb = this.#builds.get(s.id)!;
      const st = this.#scheduler.state(s.id);
      const why = st.kind === 'skipped' ? st.reason : `dependency failed: ${b.name}`;
      this.#rows.set(s.id, { build: sb, state: 'skipped', reason: why, attempts: 0 });
      void this.#record(sb, { state: 'skipped', attempt: 0, reason: why });
      this.#emit({ type: 'skipped', build: sb, reason: why });
    }
  }

  async #dead(d: DeadLetter): Promise<void> {
    const m = parseJobMessageId(d.msgId);
    if (!m || m.runId !== this.#o.runId) return;
    const b = this.#builds.get(m.id);
    if (!b) return;
    const kind = this.#scheduler.state(b.id).kind;
    if (kind !== 'dispatched' && kind !== 'running') return;
    const f = this.#flights.get(b.id);
    this.#settleFailed(
      b,
      `gave up after ${d.deliveries} deliveries: ${f?.lastFault ?? 'the agent was lost (lease expired)'}`,
      [],
      f?.agent,
    );
    this.#pump();
  }
}

/**
 * Whether the newly published packages provide other names than those published before under the
 * same package names. Versions are ignored (`cmd:foo=1.1-r0` moves with every release); a
 * changed soname is a changed name (`so:libfoo.so.2`).
 */
export function providesChanged(
  before: readonly { name: string; version: string; provides: readonly string[] }[],
  after: readonly { name: string; provides: readonly string[] }[],
): boolean {
  const names = (p: readonly string[]) => [...new Set(p.map((x) => x.split(/[=<>~]/)[0]))].sort().join(' ');
  for (const e of after) {
    // Against the newest version published before: the one dependents were built with.
    let old: (typeof before)[number] | undefined;
    for (const x of before)
      if (x.name === e.name && (!old || compareVersions(x.version, old.version) > 0)) old = x;
    if (!old || names(old.provides) !== names(e.provides)) return true;
  }
  return false;
}
