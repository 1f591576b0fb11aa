import {
  type AgentEvent,
  type BuildJob,
  type BuildReport,
  ENQUEUED_AT,
  ForgedReportError,
  jobMessageId,
  parseJobMessageId,
  type RefusalCode,
  type ReportAck,
} from '@melange2/protocol';
import { type DeadLetter, traceHeaders } from '@melange2/queue';
import type { Span } from '@opentelemetry/api';
import { Scheduler } from '../scheduler/index.js';
import { AgentRegistry } from './agents.js';
import { RunNames } from './awaiting.js';
import { cutoffCause } from './cutoff.js';
import { DispatchTokens } from './dispatch-tokens.js';
import { Flights } from './flights.js';
import type { RunBuild } from './plan-run.js';
import { observePublish } from './publish-facts.js';
import { PublishedRepository, publishStaged } from './publish-step.js';
import { type QueuedAttempt, queuedAttempts } from './queued.js';
import { ReachIndex } from './reach.js';
import { RunRecorder } from './recorder.js';
import type { BuildRow, CoordinatorOptions, RunEvent, RunResult } from './run-types.js';
import { endBuildSpan, endRunSpan, startBuildSpan, startRunSpan, startSendSpan, under } from './spans.js';

/**
 * Reports of one build refused for what they staged (each time the build is dispatched again)
 * before the build is given up as `refused`: staging tampered with that often is not an accident.
 */
const MAX_REFUSED_ATTEMPTS = 3;
/**
 * Times a build may come back `awaiting` a name with nothing left to wait for (its producer was
 * published after the job went out, or waits for this build) before it fails: a fresh job names
 * only what is still to come, so more than this is a loop, not a race.
 */
const MAX_IDLE_AWAITS = 3;
/** Jobs a resumed run reads back from the work queue at least (more for a bigger plan: 4 per build). */
const MIN_QUEUED_READ = 100_000;
/** Refused reports logged one by one per run; past that they are counted (a flood stays quiet). */
const MAX_REFUSAL_LINES = 100;

/**
 * Runs a planned build set to the end: dispatches ready builds per arch in priority order, only
 * as many as the agents have free slots; publishes each result (the single index writer) before
 * it releases the dependents; records every state in the store so a restarted coordinator
 * resumes; skips the dependents of failures with the reason.
 */
export class Coordinator {
  readonly #o: CoordinatorOptions;
  readonly #builds: Map<string, RunBuild>;
  readonly #arches: readonly string[];
  readonly #scheduler: Scheduler;
  readonly #agents: AgentRegistry;
  readonly #recorder: RunRecorder;
  readonly #flights = new Flights();
  readonly #rows = new Map<string, BuildRow>();
  /** Builds whose result is being published or recorded, and when that is done. */
  readonly #settling = new Map<string, Promise<void>>();
  /** In-flight attempts found in the store at start: republished under the same message id. */
  readonly #resumeAttempts = new Map<string, number>();
  /** The token hashes those attempts accept (their jobs may still be queued). */
  readonly #resumeTokens = new Map<string, readonly string[]>();
  readonly #tokens = new DispatchTokens();
  /** Started and transient events ignored for a token not of the attempt in flight. */
  #ignoredEvents = 0;
  /** Reports refused per build for what they staged (see MAX_REFUSED_ATTEMPTS). */
  readonly #contentRefusals = new Map<string, number>();
  #refusedReports = 0;
  readonly #log: (line: string) => void;
  /** Early cutoff: builds cut off, and whether each published build's provides changed. */
  readonly #cutoff = { cutOff: new Set<string>(), providesChanged: new Map<string, boolean>() };
  #dispatched = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #finish: (() => void) | undefined;
  #fail: ((e: unknown) => void) | undefined;
  #runSpan: Span | undefined;
  #pumping = false;
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
  readonly #repository: PublishedRepository;
  /** What each build's environment reaches that the run is still to produce (jobs' `awaiting`). */
  readonly #names: RunNames;
  /** `awaiting` reports per build that found nothing left to wait for (see MAX_IDLE_AWAITS). */
  readonly #idleAwaits = new Map<string, number>();

  constructor(o: CoordinatorOptions) {
    this.#o = o;
    this.#builds = new Map(o.plan.builds.map((b) => [b.id, b]));
    this.#arches = [...new Set(o.plan.builds.map((b) => b.arch))];
    this.#scheduler = new Scheduler(o.plan.builds, o.ordering ? { ordering: o.ordering } : {});
    this.#agents = new AgentRegistry(o.agentTimeoutMs);
    const log = o.log ?? ((line: string) => process.stderr.write(`melange2-orch coordinator: ${line}\n`));
    this.#log = log;
    this.#recorder = new RunRecorder(o.state, o.runId, log);
    this.#repository = new PublishedRepository(o.published);
    this.#names = new RunNames(o.plan.builds, o.reach ?? new ReachIndex(o.plan));
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
      this.#agents.heartbeat(e);
      this.#pump();
      return;
    }
    if (e.runId !== this.#o.runId) return;
    const build = this.#builds.get(e.id);
    const f = this.#flights.get(e.id);
    if (!build || !f) return;
    // Only the holder of the attempt's job may say it started or hit a fault: a forged event
    // (another agent's, or a stale attempt's) changes nothing.
    if (!this.#tokens.check(e.id, e.attempt, e.token).ok) {
      this.#ignoredEvents++;
      return;
    }
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
    return this.#agents.capacity(arch);
  }

  async run(): Promise<RunResult> {
    const t0 = performance.now();
    const o = this.#o;
    this.#runSpan = startRunSpan(o.runId, o.plan.builds.length);
    // The agents' pulls already waiting are free slots now: the first builds need not wait for
    // their next heartbeats (up to 2 s). A queue that cannot tell costs only that wait.
    // The cached failures' listing goes out with them (it does not depend on the run record).
    const failures = this.#recorder.failureKeys(o.retryFailed ?? false);
    const [resuming] = await Promise.all([this.#recorder.begin(o.plan), this.#idleSlots()]);
    // What the interrupted run left on the work queue is what it had in flight (see README.md,
    // "Crashes and restarts"): read before anything is dispatched.
    const queued = resuming
      ? await queuedAttempts(o.queue, o.runId, {
          max: Math.max(MIN_QUEUED_READ, 4 * o.plan.builds.length),
          log: this.#log,
        })
      : undefined;
    await this.#preSettle(resuming, queued, failures);
    this.#presettle();
    o.queue.onDead((d) => this.#dead(d));
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
      this.#flights.endSpans();
    }
    // Packages staged by agents that died before reporting: never published, now removed.
    await o.staging.purge(`${o.runId}/`).catch(() => undefined);
    const counts = this.#scheduler.counts();
    endRunSpan(this.#runSpan, counts.failed + counts.skipped > 0);
    await this.#recorder.finish(o.plan);
    return {
      runId: o.runId,
      rows: o.plan.builds.map((b) => this.#rows.get(b.id)!),
      dispatched: this.#dispatched,
      refusedReports: this.#refusedReports,
      ignoredEvents: this.#ignoredEvents,
      upToDate: o.plan.upToDate,
      problems: o.plan.problems,
      cycles: o.plan.cycles,
      wallMs: performance.now() - t0,
    };
  }

  async #idleSlots(): Promise<void> {
    await Promise.all(
      this.#arches.map(async (arch) => {
        const n = await this.#o.queue.idle(arch).catch(() => 0);
        this.#agents.idle(arch, n);
      }),
    );
  }

  /** Cached failures and, on resume, what the interrupted run left in flight. */
  async #preSettle(
    resuming: boolean,
    queued: ReadonlyMap<string, QueuedAttempt> | undefined,
    failures: Promise<readonly string[]>,
  ): Promise<void> {
    const builds = this.#o.plan.builds;
    const prior = await this.#recorder.prior(builds, {
      failures,
      resuming,
      ...(queued ? { queued } : {}),
    });
    // Resumed attempts go out below: not before the set-up is done.
    await this.#o.gate;
    builds.forEach((b, i) => {
      const left = this.#o.plan.excluded.get(b.id);
      if (left !== undefined) {
        if (this.#scheduler.state(b.id).kind !== 'skipped') this.#settleExcluded(b, left);
        return;
      }
      const p = prior[i]!;
      // Still queued (or being built) from the interrupted run: claimed again under the same
      // message id. Unless it failed with this input already (its job is left from a report
      // taken just before the crash): then it is settled as failed below, not dispatched.
      if (p.inFlight !== undefined && p.failedBefore === undefined) {
        this.#resumeAttempts.set(b.id, p.inFlight);
        if (p.tokens) this.#resumeTokens.set(b.id, p.tokens);
        if (this.#scheduler.claim(b.id)) void this.#dispatch(b);
      }
      if (p.failedBefore !== undefined && this.#scheduler.state(b.id).kind !== 'skipped') {
        this.#settleFailed(
          b,
          `${p.failedBefore.split('\n')[0]} (failed before with the same input; --retry-failed builds it again)`,
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
        const cap = this.#agents.capacity(arch);
        const waiting = this.#scheduler.readyCount(arch);
        if (this.#agents.noAgents(arch, cap, waiting)) this.#emit({ type: 'no-agents', arch, waiting });
        const free = cap - this.#flights.inFlight(arch);
        if (free <= 0) continue;
        for (const t of this.#scheduler.take(arch, free)) {
          const b = this.#builds.get(t.id)!;
          const cause = this.#o.earlyCutoff ? cutoffCause(b, this.#cutoff) : undefined;
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

  #settleCutOff(b: RunBuild, cause: string): void {
    const reason = `early cutoff: the provides of ${cause} did not change`;
    this.#cutoff.cutOff.add(b.id);
    this.#scheduler.succeeded(b.id);
    this.#rows.set(b.id, { build: b, state: 'up-to-date', reason, attempts: 0 });
    this.#emit({ type: 'cut-off', build: b, reason });
  }

  #job(b: RunBuild, attempt: number, token: string, awaiting: readonly string[]): BuildJob {
    const generation = this.#repository.generation();
    return {
      runId: this.#o.runId,
      id: b.id,
      name: b.name,
      arch: b.arch,
      version: b.version,
      configFile: b.configFile,
      attempt,
      token,
      ...(generation !== undefined ? { generation } : {}),
      cost: b.cost,
      ...(awaiting.length ? { awaiting } : {}),
    };
  }

  /**
   * The names the job of `b` carries as `awaiting`, or undefined when it has to wait first (more
   * than a job may name): then it is back to blocked, waiting for those builds.
   */
  #awaiting(b: RunBuild): readonly string[] | undefined {
    const s = this.#scheduler;
    const v = this.#names.awaiting(b, (id) => s.pending(id) && !s.dependsOn(id, b.id));
    if (v.kind === 'none') return [];
    if (v.kind === 'names') return v.names;
    const on = s.waitFor(b.id, v.producers, { undispatch: true });
    this.#emit({ type: 'waiting', build: b, on });
    return undefined;
  }

  async #dispatch(b: RunBuild): Promise<void> {
    const awaiting = this.#awaiting(b);
    if (!awaiting) return;
    const resumed = this.#resumeAttempts.get(b.id);
    this.#resumeAttempts.delete(b.id);
    const attempt = resumed ?? this.#scheduler.attempts(b.id);
    const span = startBuildSpan(this.#runSpan, b);
    this.#flights.start(b, attempt, span);
    // A resumed attempt's job may still be queued with the token the previous coordinator made.
    const token = this.#tokens.issue(b.id, attempt, this.#resumeTokens.get(b.id));
    this.#resumeTokens.delete(b.id);
    const job = this.#job(b, attempt, token, awaiting);
    try {
      const msgId = jobMessageId(this.#o.runId, b.id, attempt);
      this.#emit({ type: 'dispatched', build: b, attempt });
      const send = startSendSpan(span, b.arch, msgId);
      const headers = { ...traceHeaders(under(send)), [ENQUEUED_AT]: String(Date.now()) };
      // No state record: the job on the work queue is the record of the attempt in flight (a
      // restarted coordinator reads it back, with its token; see `queuedAttempts`). A crash
      // before the queue stored it leaves the build ready, dispatched again as attempt 1 of the
      // same message id; one after leaves it on the queue, resumed with its token.
      const sent = await this.#o.queue.publish(b.arch, job, { msgId, headers });
      send.end();
      // Dropped as a duplicate, yet not resumed: an earlier coordinator of this run sent this
      // attempt and its job is off the queue (acked after an `awaiting` or refused report, or dead
      // and told to that coordinator, which then crashed): nothing would come of it, so it goes
      // again as the next attempt, under a new message id.
      if (sent.duplicate && resumed === undefined)
        throw new Error(`attempt ${attempt} was sent before the restart, its job is gone`);
      this.#dispatched++;
    } catch (e) {
      // The queue (or the state store) is unreachable, or the attempt was used up (above): put it
      // back and let the next pump try again.
      this.#tokens.close(b.id);
      this.#flights.land(b);
      span.end();
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

  /**
   * A result from an agent: published (or recorded as failed) before the answer goes back. A
   * report must carry the dispatch token of the attempt in flight, which it takes; any other is
   * refused (a `ForgedReportError`: recorded and logged as refused, never as a failure) and the
   * build waits for the right one. A report with the right token whose staged packages do not
   * check out is refused too, and the build is dispatched again.
   */
  async report(r: BuildReport): Promise<ReportAck> {
    if (this.#stopped) throw new Error('coordinator stopped');
    await this.#presettled;
    if (this.#stopped) throw new Error('coordinator stopped');
    const b = r.runId === this.#o.runId ? this.#builds.get(r.id) : undefined;
    if (!b)
      throw this.#refused(
        undefined,
        r,
        'not-dispatched',
        r.runId === this.#o.runId ? `no build ${r.id} in this run` : `run ${r.runId} is not this run`,
        'waiting',
      );
    // A repeated report (the agent's request timed out) waits for the first one to be recorded:
    // answering at once would let the agent ack a build that a crash could still leave unsettled.
    const inProgress = this.#settling.get(r.id);
    if (inProgress) await inProgress.catch(() => {});
    const verdict = this.#tokens.check(b.id, r.attempt, r.token);
    if (!verdict.ok) throw this.#refused(b, r, verdict.code, verdict.reason, 'waiting');
    // Taken before anything is awaited: a copy of this report from now on is a replay.
    this.#tokens.consume(b.id, r.token);
    const settle = this.#settle(b, r);
    this.#settling.set(r.id, settle);
    try {
      await settle;
    } catch (e) {
      // A state write the run cannot do without: the run fails with it. A refused report does not.
      if (!(e instanceof ForgedReportError)) this.#fail?.(e);
      throw e;
    } finally {
      this.#settling.delete(r.id);
      this.#pump();
    }
    return { ok: true };
  }

  async #settle(b: RunBuild, r: BuildReport): Promise<void> {
    if (r.outcome.kind === 'awaiting') {
      this.#awaited(b, r.outcome.name, r.agent);
      return;
    }
    if (r.outcome.kind === 'failed') {
      const reason = `${r.outcome.stage} failed: ${r.outcome.message.split('\n')[0]}`;
      this.#settleFailed(b, reason, r.outcome.logTail, r.agent);
      await this.#recorder.failure(b, reason);
      return;
    }
    const outcome = r.outcome;
    let published: Awaited<ReturnType<typeof publishStaged>>;
    try {
      published = await observePublish(
        (e) => this.#emit(e),
        b,
        { attempt: r.attempt, outcome },
        this.#o.signingKey.publicName,
        () =>
          publishStaged(
            {
              staging: this.#o.staging,
              publisher: this.#o.publisher,
              signingKey: this.#o.signingKey,
              compareProvides: this.#o.earlyCutoff ?? false,
            },
            b,
            { runId: this.#o.runId, attempt: r.attempt },
            outcome,
            this.#flights.get(b.id)?.span,
          ),
      );
    } catch (e) {
      if (e instanceof ForgedReportError) throw this.#refusedContent(b, r, e);
      throw e;
    }
    if (!published.ok) {
      this.#settleFailed(b, published.reason, [], r.agent);
      return;
    }
    if (published.indexed) this.#repository.indexed();
    if (published.providesChanged !== undefined)
      this.#cutoff.providesChanged.set(b.id, published.providesChanged);
    const f = this.#flights.land(b);
    endBuildSpan(f?.span, { ok: true, agent: r.agent, steps: outcome.steps });
    this.#scheduler.succeeded(b.id);
    const attempts = f?.attempt ?? 1;
    this.#rows.set(b.id, {
      build: b,
      state: 'succeeded',
      agent: r.agent,
      durationMs: r.durationMs,
      attempts,
    });
    // Its packages are in the index (and jobs carry the generation after it): the dependents
    // go out now. A crash from here on leaves it up to date in the index, so the restarted
    // run's plan has it; its record below only keeps the duration (the next run's cost), so
    // it is written without waiting for the store.
    this.#pump();
    this.#recorder.succeededLater(b, { attempt: attempts, agent: r.agent, durationMs: r.durationMs });
    await this.#recorder.succeeded(b);
    this.#emit({
      type: 'succeeded',
      build: b,
      agent: r.agent,
      durationMs: r.durationMs,
      packages: outcome.apks.map((a) => a.filename),
      steps: outcome.steps,
    });
  }

  /**
   * The agent gave the build back: its environment would install an older provider of `name`,
   * which the run is still to produce. It waits for those builds (skipped if one fails) and goes
   * again once they are published; if none is left to wait for, it goes again at once, at most
   * MAX_IDLE_AWAITS times. Never a failure of the package.
   */
  #awaited(b: RunBuild, name: string, agent: string): void {
    this.#tokens.close(b.id);
    this.#flights.land(b)?.span.end();
    const producers = this.#names.producersOf(b.arch, name);
    const on = this.#scheduler.waitFor(b.id, producers);
    if (on.length === 0) {
      const n = (this.#idleAwaits.get(b.id) ?? 0) + 1;
      this.#idleAwaits.set(b.id, n);
      if (n > MAX_IDLE_AWAITS) {
        const reason = `environment: it would install an older ${name} than this run makes, ${n} times with nothing left to wait for`;
        this.#settleFailed(b, reason, [], agent);
        return;
      }
    }
    this.#emit({ type: 'waiting', build: b, name, on, agent });
  }

  /**
   * A refused report: counted, logged, recorded (`refused.*`, never `failure.*`) and told as an
   * event; returns the error the agent is answered with (final: it does not offer it again).
   */
  #refused(
    b: RunBuild | undefined,
    r: BuildReport,
    code: RefusalCode,
    reason: string,
    outcome: Extract<RunEvent, { type: 'refused' }>['outcome'],
  ): ForgedReportError {
    this.#refusedReports++;
    const line = `refused a report (${code}) for ${r.id} attempt ${r.attempt} from ${r.agent}: ${reason}`;
    if (this.#refusedReports <= MAX_REFUSAL_LINES) this.#log(line);
    else if (this.#refusedReports === MAX_REFUSAL_LINES + 1)
      this.#log('more reports refused: counted in the run state (refused.*), no longer logged');
    this.#recorder.refused(b, { attempt: r.attempt, agent: r.agent, code, reason });
    this.#emit({
      type: 'refused',
      ...(b ? { build: b } : {}),
      id: r.id,
      attempt: r.attempt,
      agent: r.agent,
      code,
      reason,
      outcome,
    });
    return new ForgedReportError(code, `report refused (${code}): ${reason}`);
  }

  /**
   * The report had the right token but what it staged did not check out (swapped, corrupt, or
   * another package): the build is dispatched again, or given up as `refused` after
   * MAX_REFUSED_ATTEMPTS such reports; never a failure of the package.
   */
  #refusedContent(b: RunBuild, r: BuildReport, e: ForgedReportError): ForgedReportError {
    const n = (this.#contentRefusals.get(b.id) ?? 0) + 1;
    this.#contentRefusals.set(b.id, n);
    if (n < MAX_REFUSED_ATTEMPTS) {
      this.#flights.land(b)?.span.end();
      this.#scheduler.requeue(b.id);
      return this.#refused(b, r, e.refused, e.message, 'redispatched');
    }
    const err = this.#refused(b, r, e.refused, e.message, 'given-up');
    this.#settleFailed(b, `${n} reports refused, the last: ${e.message}`, [], r.agent, 'refused');
    return err;
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

  #settleFailed(
    b: RunBuild,
    reason: string,
    logTail: readonly string[],
    agent: string | undefined,
    state: 'failed' | 'refused' = 'failed',
  ): void {
    this.#tokens.close(b.id);
    const f = this.#flights.land(b);
    endBuildSpan(f?.span, { ok: false, reason });
    const skipped = this.#scheduler.failed(b.id, reason);
    const attempt = f?.attempt ?? 0;
    this.#rows.set(b.id, {
      build: b,
      state,
      reason,
      attempts: attempt,
      logTail,
      ...(agent ? { agent } : {}),
    });
    this.#recorder.buildLater(b, { state, attempt, reason, logTail: logTail.slice(-20) });
    if (state === 'failed')
      this.#emit({ type: 'failed', build: b, reason, logTail, ...(agent ? { agent } : {}) });
    for (const s of skipped) {
      const sb = this.#builds.get(s.id)!;
      const st = this.#scheduler.state(s.id);
      const why = st.kind === 'skipped' ? st.reason : `dependency failed: ${b.name}`;
      this.#rows.set(s.id, { build: sb, state: 'skipped', reason: why, attempts: 0 });
      this.#recorder.buildLater(sb, { state: 'skipped', attempt: 0, reason: why });
      this.#emit({ type: 'skipped', build: sb, reason: why });
    }
  }

  #dead(d: DeadLetter): void {
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
