import {
  type BuildJob,
  type BuildOutcome,
  type BuildReport,
  type CoordinatorLink,
  clip,
  ENQUEUED_AT,
  failedOutcome,
  ReportRefusedError,
} from '@melange2/protocol';
import type { Delivery, WorkQueue } from '@melange2/queue';
import { contextFromHeaders, waitOrAbort } from '@melange2/queue';
import { type Context, context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { type BuildLogOptions, type BuildLogSession, type LogLine, openBuildLog } from './build-log.js';
import { classify } from './classify.js';
import { Gate, PrefetchPolicy, Trigger } from './gate.js';
import type { AgentMetrics } from './metrics.js';

export const tracer = trace.getTracer('melange2-orch-agent');

/** A build that ran past the agent's limit: abandoned, and retried elsewhere (transient). */
class BuildTimeoutError extends Error {
  override readonly name = 'BuildTimeoutError';
  constructor(
    readonly id: string,
    readonly limitMs: number,
  ) {
    super(`${id}: still running after ${Math.round(limitMs / 1000)} s; abandoned`);
  }
}

export const DEFAULT_DRAIN_REPORT_MS = 30_000;

/** A drain that ended with finished builds no coordinator took (see `drainReportMs`). */
export class DrainTimeoutError extends Error {
  override readonly name = 'DrainTimeoutError';
  readonly code = 'AGENT_DRAIN_TIMEOUT';
  constructor(
    readonly unreported: readonly string[],
    readonly limitMs: number,
  ) {
    super(
      `gave up draining: no coordinator took the report of ${unreported.join(', ')} within ` +
        `${Math.round(limitMs / 1000)} s (--drain-timeout); it is built again once its lease runs out`,
    );
  }
}

interface ExecuteContext {
  readonly signal: AbortSignal;
  /** The trace context of this build's span: children (environment, vertices…) go under it. */
  readonly trace: Context;
  /** The build's full log (a no-op when the agent keeps none). */
  readonly log: LogLine;
}

/** Runs one build: resolves with what it staged, throws when it failed (see `classify`). */
export type Executor = (
  job: BuildJob,
  ctx: ExecuteContext,
) => Promise<Extract<BuildOutcome, { kind: 'succeeded' }>>;

export interface AgentOptions {
  readonly id: string;
  readonly arch: string;
  readonly slots: number;
  readonly queue: WorkQueue<BuildJob>;
  readonly link: CoordinatorLink;
  readonly execute: Executor;
  /**
   * Builds pulled ahead of the free slots while builds are short (see `PrefetchPolicy`), so that a
   * freed slot starts its next build at once. Default 0: on the loaded 2-core bench machine one
   * per agent made `build-all-wolfi 16 10 cp-mix` slower (2.68 / 2.90 × against 1.92 / 2.43 ×),
   * the builds held ahead delaying the critical path's.
   */
  readonly prefetch?: number;
  /** Pull ahead only while builds take less than this on average; default 100 ms. */
  readonly prefetchBelowMs?: number;
  /** Heartbeat period (slots for the coordinator's dispatch); default 2 s. */
  readonly heartbeatMs?: number;
  /**
   * A build still running after this long is abandoned and given back as a transient fault
   * (a hung download or daemon must not hold a slot and its lease forever). Default 6 h.
   */
  readonly buildTimeoutMs?: number;
  /**
   * Stopping (a drain), how long a finished build's report is offered to a coordinator that does
   * not take it before the agent gives up on it (`unreported`; its lease runs out and it is built
   * again elsewhere). Until a stop, a report is offered for as long as it takes. Default 30 s.
   */
  readonly drainReportMs?: number;
  /** Backoff before a transient failure is delivered again: base × 2^(delivery−1), default 1 s. */
  readonly retryBaseMs?: number;
  /**
   * Whether the coordinator's published repository answers. A transient fault while it does not
   * is the coordinator being away (restarting): the build waits for it, its lease kept, and goes
   * again in place. Given back instead, it would use up its deliveries while no coordinator hears
   * of it (a resumed coordinator republishes it under the same message id: deduplicated, never run).
   */
  readonly repositoryAnswers?: () => Promise<boolean>;
  /** Keep every build's full log in this store (live while it runs). */
  readonly logs?: BuildLogOptions;
  readonly metrics?: AgentMetrics;
  readonly log?: (line: string) => void;
}

/**
 * Pulls builds of one arch from the queue, `slots` at a time, and runs them: keeps each lease
 * alive while it builds, reports the result to the coordinator (which publishes), and only then
 * acks. A failure a retry cannot fix is reported and terminated; a transient one is given back
 * with a backoff so another agent (or this one, later) tries again.
 */
export class Agent {
  readonly #o: AgentOptions;
  readonly #stop = new AbortController();
  /** Aborting it cancels the running builds too (a kill, not a drain). */
  readonly #kill = new AbortController();
  /**
   * The same two events for what each build and report waits on: an AbortSignal's listeners cost
   * a walk of all of them per add (and one left behind per report grew that walk without end).
   */
  readonly #stopped = new Trigger();
  readonly #killed = new Trigger();
  #busy = 0;
  readonly #prefetch: PrefetchPolicy;
  /** Builds in hand (pulled or being pulled, not yet built): the slots and the builds held ahead. */
  readonly #inHand: Gate;
  /** Builds running. */
  readonly #slots: Gate;
  readonly #unreported: string[] = [];
  #loops: Promise<void>[] = [];
  #heartbeat: ReturnType<typeof setInterval> | undefined;

  constructor(o: AgentOptions) {
    this.#o = o;
    this.#prefetch = new PrefetchPolicy(o.prefetch ?? 0, o.prefetchBelowMs ?? 100);
    this.#inHand = new Gate(() => o.slots + this.#prefetch.ahead);
    this.#slots = new Gate(() => o.slots);
  }

  get busy(): number {
    return this.#busy;
  }

  get slots(): number {
    return this.#o.slots;
  }

  get arch(): string {
    return this.#o.arch;
  }

  /** Builds finished but given up on while stopping, their report never taken (by id). */
  get unreported(): readonly string[] {
    return this.#unreported;
  }

  /** Builds pulled ahead of the free slots now (0 while builds are long). */
  get prefetching(): number {
    return this.#prefetch.ahead;
  }

  #beat(): void {
    const ahead = this.#prefetch.ahead;
    this.#o.link.event({
      type: 'heartbeat',
      agent: this.#o.id,
      arch: this.#o.arch,
      slots: this.#o.slots,
      busy: this.#busy,
      alive: true,
      // The coordinator dispatches that many more to this agent (absent: none).
      ...(ahead > 0 ? { prefetch: ahead } : {}),
    });
  }

  start(): void {
    this.#beat();
    this.#heartbeat = setInterval(() => this.#beat(), this.#o.heartbeatMs ?? 2000);
    this.#heartbeat.unref();
    this.#loops = Array.from({ length: this.#o.slots + this.#prefetch.builds }, () => this.#loop());
  }

  /** Finishes the builds in hand, takes no more. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#stopped.fire();
    await Promise.all(this.#loops);
    this.#leave();
  }

  /** Abandons the builds in hand (their leases run out and they go to another agent). */
  async kill(): Promise<void> {
    this.#stop.abort();
    this.#kill.abort();
    this.#stopped.fire();
    this.#killed.fire();
    await Promise.all(this.#loops);
    this.#leave();
  }

  #leave(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#o.link.event({
      type: 'heartbeat',
      agent: this.#o.id,
      arch: this.#o.arch,
      slots: this.#o.slots,
      busy: 0,
      alive: false,
    });
  }

  /**
   * One slot: pulls a build, runs it, and pulls the next as soon as the build is over, while its
   * report still travels to the coordinator (which dispatches the next build before it answers:
   * the pull is then already waiting for it). At most one report per slot is on its way: the
   * slot waits for it before it pulls again. The loop ends with its last report delivered.
   */
  async #loop(): Promise<void> {
    const consumer = await this.#o.queue.consumer(this.#o.arch);
    let reporting: Promise<void> = Promise.resolve();
    try {
      // A place in hand first: a free slot, or one of the builds held ahead while prefetching.
      while (await this.#inHand.take(this.#stop.signal)) {
        let d: Delivery<BuildJob> | null;
        try {
          d = await consumer.next({ expiresMs: 2000, signal: this.#stop.signal });
        } catch (e) {
          this.#inHand.give();
          this.#o.log?.(`agent ${this.#o.id}: pull failed: ${(e as Error).message}`);
          await waitOrAbort(1000, this.#stop.signal);
          continue;
        }
        if (!d || !(await this.#slot(d))) {
          this.#inHand.give();
          continue;
        }
        this.#busy++;
        let built = () => {};
        const over = new Promise<void>((resolve) => {
          built = resolve;
        });
        const t0 = performance.now();
        const handled = this.#handle(d, built);
        try {
          await Promise.race([handled, over]);
        } finally {
          this.#busy--;
          this.#slots.give();
          this.#inHand.give();
        }
        if (this.#prefetch.built(performance.now() - t0)) {
          // More (or fewer) builds in hand from now on: the coordinator hears of it at once.
          this.#inHand.wake();
          this.#beat();
        }
        await reporting;
        reporting = handled;
      }
    } finally {
      await reporting;
    }
  }

  /**
   * A free slot for `d`, its lease kept alive while it waits for one (a build pulled ahead); false
   * when the agent is killed meanwhile: `d` is given back at once.
   */
  async #slot(d: Delivery<BuildJob>): Promise<boolean> {
    if (this.#slots.tryTake()) return true;
    const waiting = this.#slots.take(this.#kill.signal);
    const keepAlive = setInterval(
      () => d.working(),
      Math.max(100, Math.floor(this.#o.queue.limits.ackWaitMs / 3)),
    );
    try {
      if (await waiting) return true;
    } finally {
      clearInterval(keepAlive);
    }
    d.nak();
    return false;
  }

  /** `built` is called once the build is over and the slot free, before its report goes out. */
  async #handle(d: Delivery<BuildJob>, built: () => void): Promise<void> {
    const job = d.data;
    const parent = contextFromHeaders(d.headers);
    const enqueuedAt = Number(d.headers[ENQUEUED_AT]);
    if (Number.isFinite(enqueuedAt) && enqueuedAt > 0) {
      tracer
        .startSpan(
          'queue.wait',
          { startTime: enqueuedAt, attributes: { 'messaging.system': 'nats', 'build.id': job.id } },
          parent,
        )
        .end();
    }
    await tracer.startActiveSpan(
      `process ${job.id}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.message.id': d.msgId,
          'apk.origin': job.name,
          'apk.version': job.version,
          'build.arch': job.arch,
          'build.attempt': job.attempt,
          'build.delivery': d.deliveryCount,
          'cicd.worker.id': this.#o.id,
        },
      },
      parent,
      async (span) => {
        try {
          await this.#run(d, job, span, built);
        } finally {
          span.end();
        }
      },
    );
  }

  /** Runs the build; a transient fault while the coordinator is away goes again once it is back. */
  async #execute(job: BuildJob, log: LogLine): Promise<Extract<BuildOutcome, { kind: 'succeeded' }>> {
    for (;;) {
      try {
        return await this.#withTimeout(job, context.active(), log);
      } catch (e) {
        if (this.#kill.signal.aborted || classify(e).kind !== 'transient') throw e;
        if (!(await this.#waitedForCoordinator(job, log))) throw e;
      }
    }
  }

  /**
   * Whether the coordinator's repository did not answer and now does (the build goes again);
   * false when it answers (a fault of its own) or the agent stops meanwhile (it is given back).
   */
  async #waitedForCoordinator(job: BuildJob, log: LogLine): Promise<boolean> {
    const answers = this.#o.repositoryAnswers;
    if (!answers || (await answers())) return false;
    const why = 'the published repository does not answer: waiting for the coordinator (lease kept)';
    log(`agent: ${why}`);
    this.#o.log?.(`agent ${this.#o.id}: ${job.id}: ${why}`);
    for (let i = 0; ; i++) {
      await waitOrAbort(Math.min(200 * 2 ** i, 2000), this.#stop.signal);
      if (this.#stop.signal.aborted) return false;
      if (await answers()) return true;
    }
  }

  /** Runs the executor under the kill signal and the build timeout. */
  async #withTimeout(
    job: BuildJob,
    trace: Context,
    log: LogLine,
  ): Promise<Extract<BuildOutcome, { kind: 'succeeded' }>> {
    const ac = new AbortController();
    const off = this.#killed.on(() => ac.abort());
    const limit = this.#o.buildTimeoutMs ?? 6 * 3600_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        ac.abort();
        reject(new BuildTimeoutError(job.id, limit));
      }, limit);
    });
    try {
      return await Promise.race([this.#o.execute(job, { signal: ac.signal, trace, log }), timedOut]);
    } finally {
      clearTimeout(timer);
      off();
    }
  }

  /**
   * Offers a report until the coordinator takes it (it may be restarting: the lease is kept
   * meanwhile), or refuses it for good (`refused`: it will never take it). Once the agent stops,
   * it gives up `drainReportMs` later, even with a request in flight: `given-up` then, and on a kill.
   */
  async #deliver(report: BuildReport): Promise<'taken' | 'refused' | 'given-up'> {
    const limit = this.#o.drainReportMs ?? DEFAULT_DRAIN_REPORT_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let over = false;
    const offs: (() => void)[] = [];
    const giveUp = new Promise<void>((resolve) => {
      offs.push(
        this.#killed.on(resolve),
        this.#stopped.on(() => {
          timer = setTimeout(() => {
            over = true;
            resolve();
          }, limit);
        }),
      );
    });
    try {
      for (let i = 0; ; i++) {
        if (this.#kill.signal.aborted) return 'given-up';
        if (over) {
          this.#unreported.push(report.id);
          this.#o.log?.(`agent ${this.#o.id}: gave up the report of ${report.id} (draining)`);
          return 'given-up';
        }
        try {
          const sent = this.#o.link.report(report);
          // A request still in flight when the drain is over is left to fail on its own.
          sent.catch(() => {});
          if (await Promise.race([sent.then(() => true), giveUp.then(() => false)])) return 'taken';
        } catch (e) {
          if (e instanceof ReportRefusedError && e.refused) {
            this.#o.log?.(
              `agent ${this.#o.id}: the report of ${report.id} was refused for good: ${e.reason}`,
            );
            return 'refused';
          }
          if (i % 10 === 0)
            this.#o.log?.(
              `agent ${this.#o.id}: report of ${report.id} not taken yet: ${(e as Error).message}`,
            );
          await Promise.race([waitOrAbort(Math.min(200 * 2 ** i, 2000), this.#kill.signal), giveUp]);
        }
      }
    } finally {
      clearTimeout(timer);
      for (const off of offs) off();
    }
  }

  /** The build's log session, or none when the agent keeps no logs or the store fails. */
  async #openLog(job: BuildJob): Promise<BuildLogSession | undefined> {
    if (!this.#o.logs) return undefined;
    try {
      return await openBuildLog(this.#o.logs, job, this.#o.id);
    } catch (e) {
      this.#o.log?.(`agent ${this.#o.id}: no log for ${job.id}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** Stores the log (a failure to is logged: the build's result does not depend on it). */
  async #endLog(
    job: BuildJob,
    log: BuildLogSession | undefined,
    state: 'succeeded' | 'failed' | 'cancelled',
    closing: readonly string[],
  ): Promise<void> {
    await log?.end(state, closing).catch((e: unknown) => {
      this.#o.log?.(`agent ${this.#o.id}: the log of ${job.id} was not stored: ${(e as Error).message}`);
    });
  }

  async #run(d: Delivery<BuildJob>, job: BuildJob, span: Span, built: () => void): Promise<void> {
    const ackWait = this.#o.queue.limits.ackWaitMs;
    const keepAlive = setInterval(() => d.working(), Math.max(100, Math.floor(ackWait / 3)));
    const t0 = performance.now();
    const log = await this.#openLog(job);
    const line: LogLine = log ? log.line : () => {};
    const secs = () => (performance.now() - t0) / 1000;
    try {
      this.#o.link.event({
        type: 'started',
        runId: job.runId,
        id: job.id,
        attempt: job.attempt,
        token: job.token,
        agent: this.#o.id,
      });
      let outcome: BuildOutcome;
      try {
        outcome = await this.#execute(job, line);
        await this.#endLog(job, log, 'succeeded', [
          `result: succeeded in ${secs().toFixed(1)} s (${outcome.steps.total} BuildKit vertices, ${outcome.steps.cached} cached)`,
        ]);
        this.#o.metrics?.finished(job.arch, 'succeeded', secs(), outcome.steps);
        span.setAttribute('cicd.pipeline.task.run.result', 'success');
        span.setAttribute('build.steps.cached', outcome.steps.cached);
        span.setAttribute('build.steps.total', outcome.steps.total);
      } catch (e) {
        if (this.#kill.signal.aborted) {
          // Killed: leave the message leased; it is redelivered when the lease runs out.
          span.setStatus({ code: SpanStatusCode.ERROR, message: 'agent stopped' });
          await this.#endLog(job, log, 'cancelled', ['result: cancelled: the agent stopped']);
          this.#o.metrics?.finished(job.arch, 'cancelled', secs());
          return;
        }
        const v = classify(e);
        if (v.kind === 'transient') {
          span.setStatus({ code: SpanStatusCode.ERROR, message: v.message });
          span.setAttribute('cicd.pipeline.task.run.result', 'error');
          await this.#endLog(job, log, 'failed', [
            `result: transient fault, given back for another attempt: ${v.message}`,
          ]);
          this.#o.metrics?.finished(job.arch, 'transient', secs());
          this.#o.link.event({
            type: 'transient',
            runId: job.runId,
            id: job.id,
            attempt: job.attempt,
            token: job.token,
            agent: this.#o.id,
            message: clip(v.message),
          });
          d.nak((this.#o.retryBaseMs ?? 1000) * 2 ** (d.deliveryCount - 1));
          return;
        }
        if (v.kind === 'awaiting') {
          // Not a failure: the coordinator dispatches the build again once `name` is published.
          span.setAttribute('cicd.pipeline.task.run.result', 'skip');
          outcome = { kind: 'awaiting', name: v.name, message: clip(v.message) };
          await this.#endLog(job, log, 'cancelled', [`result: waiting for ${v.name}: ${v.message}`]);
          this.#o.metrics?.finished(job.arch, 'cancelled', secs());
        } else {
          span.setStatus({ code: SpanStatusCode.ERROR, message: v.message });
          span.setAttribute('cicd.pipeline.task.run.result', 'failure');
          outcome = failedOutcome(v.stage, v.message, v.logTail);
          await this.#endLog(job, log, 'failed', [`result: failed at ${v.stage}: ${v.message}`]);
          this.#o.metrics?.finished(job.arch, 'failed', secs());
        }
      }
      built();
      const report = {
        runId: job.runId,
        id: job.id,
        attempt: job.attempt,
        token: job.token,
        agent: this.#o.id,
        durationMs: performance.now() - t0,
        outcome,
      };
      const delivered = await this.#deliver(report);
      if (delivered === 'given-up') return;
      // Refused for good: this attempt is over (the coordinator dispatches the build again if it must).
      if (delivered === 'refused') d.term('report refused');
      else if (outcome.kind === 'failed') d.term(outcome.message.slice(0, 200));
      // Without waiting for the queue's answer (none is sent): the slot pulls its next build
      // meanwhile, and a lost ack only redelivers a stale build, whose report is refused.
      else d.ackNoWait();
    } finally {
      clearInterval(keepAlive);
    }
  }
}
