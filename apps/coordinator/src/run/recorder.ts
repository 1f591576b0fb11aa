import type { StateStore } from '@melange2/queue';
import type { RunBuild, RunPlan } from './plan-run.js';
import type { QueuedAttempt } from './queued.js';
import { buildKey, failureKey, legacyRunKey, refusedKey, runKey, type StateRecord } from './state.js';

type RefusedRecord = Extract<StateRecord, { kind: 'refused' }>;
type BuildRecord = Omit<Extract<StateRecord, { kind: 'build' }>, 'kind' | 'runId' | 'version'>;

/** A write to the run's state store failed where the run cannot go on without it. */
export class RunStateError extends Error {
  override readonly name = 'RunStateError';
  readonly code = 'run-state-write';
  constructor(
    readonly key: string,
    options: { cause: unknown },
  ) {
    super(`run state: writing ${key} failed: ${(options.cause as Error).message}`, options);
  }
}

/** What an interrupted or earlier run left for one build. */
export interface Prior {
  /** The attempt still in flight when the run was interrupted (republished under its message id). */
  readonly inFlight?: number;
  /** The token hashes that attempt accepts (its job may still be queued with one of them). */
  readonly tokens?: readonly string[];
  /** The reason it failed before with the same input (not rebuilt without `--retry-failed`). */
  readonly failedBefore?: string;
}

type Attempt = { readonly attempt: number; readonly tokens: readonly string[] };

/** The later of two attempts in flight (the tokens of both when it is the same attempt). */
function latestAttempt(
  a: Attempt | undefined,
  b: Attempt | undefined,
): { inFlight?: number; tokens?: readonly string[] } {
  const x =
    !a || !b
      ? (a ?? b)
      : a.attempt !== b.attempt
        ? a.attempt > b.attempt
          ? a
          : b
        : { attempt: a.attempt, tokens: [...new Set([...a.tokens, ...b.tokens])] };
  return x ? { inFlight: x.attempt, ...(x.tokens.length ? { tokens: x.tokens } : {}) } : {};
}

/**
 * A run's records in its state store (JetStream KV, or a file when embedded): the run, each
 * build's state, and failures by input. What a restarted coordinator resumes from.
 */
export class RunRecorder {
  readonly #state: StateStore<StateRecord>;
  readonly #runId: string;
  readonly #log: (line: string) => void;
  /** Builds with a failure record: removed when they succeed. */
  readonly #failureRecorded = new Set<string>();
  /** Refused reports per key, and whether a write of that key is under way (writes are coalesced). */
  readonly #refusals = new Map<string, { record: RefusedRecord; writing: boolean; dirty: boolean }>();
  #startedAt = Date.now();
  /** The run resumed was recorded under the earlier layout's key. */
  #legacy = false;

  constructor(state: StateStore<StateRecord>, runId: string, log: (line: string) => void) {
    this.#state = state;
    this.#runId = runId;
    this.#log = log;
  }

  /** Marks the run as running, unless it is the one recorded (then it resumes): whether it does. */
  async begin(plan: RunPlan): Promise<boolean> {
    const [cur, old] = await Promise.all([this.#state.get(runKey), this.#state.get(legacyRunKey)]);
    const mine = (r: StateRecord | undefined) =>
      r?.kind === 'run' && r.runId === this.#runId ? r : undefined;
    const prev = mine(cur?.value) ?? mine(old?.value);
    if (prev) {
      this.#startedAt = prev.startedAt;
      // Begun by a coordinator of the earlier layout: its record is closed too at the end.
      this.#legacy = !mine(cur?.value);
    } else await this.#state.put(runKey, this.#runRecord(plan, 'running'));
    return prev !== undefined;
  }

  async finish(plan: RunPlan): Promise<void> {
    const record = { ...this.#runRecord(plan, 'finished'), finishedAt: Date.now() };
    await this.#state.put(runKey, record);
    if (this.#legacy) await this.#state.put(legacyRunKey, record);
  }

  #runRecord(plan: RunPlan, status: 'running' | 'finished'): Extract<StateRecord, { kind: 'run' }> {
    return {
      kind: 'run',
      runId: this.#runId,
      repo: plan.root,
      arches: [...new Set(plan.builds.map((b) => b.arch))],
      status,
      startedAt: this.#startedAt,
    };
  }

  /**
   * Per build (in order): its cached failure and, on resume, the attempt left in flight: the
   * one whose job is still on the work queue (`queued`, see `queuedAttempts`), or one recorded
   * `dispatched` by a coordinator that still wrote such records (a run it began is resumed too).
   */
  /**
   * The keys of the failures recorded by input (none with `retryFailed`): listed, not read, so a
   * fresh run of thousands of builds does not pay a KV round trip per build. For `prior`.
   */
  failureKeys(retryFailed: boolean): Promise<readonly string[]> {
    const keys = retryFailed ? Promise.resolve([]) : this.#state.keys('failure.');
    // Awaited by `prior`; a run that fails before then must not leave it unhandled.
    keys.catch(() => {});
    return keys;
  }

  async prior(
    builds: readonly RunBuild[],
    o: {
      /** `failureKeys`. */
      failures: Promise<readonly string[]>;
      resuming: boolean;
      queued?: ReadonlyMap<string, QueuedAttempt>;
    },
  ): Promise<Prior[]> {
    const st = this.#state;
    const failures = new Set(await o.failures);
    const inRun = new Set(o.resuming ? await st.keys('build.') : []);
    const out: Prior[] = [];
    for (let i = 0; i < builds.length; i += 64) {
      const batch = builds.slice(i, i + 64).map(async (b): Promise<Prior> => {
        const bk = buildKey(b.arch, b.name);
        const fk = failureKey(b.arch, b.name);
        if (failures.has(fk)) this.#failureRecorded.add(b.id);
        const [r, f] = await Promise.all([
          inRun.has(bk) ? st.get(bk).then((e) => e?.value) : undefined,
          failures.has(fk) ? st.get(fk).then((e) => e?.value) : undefined,
        ]);
        const recorded =
          r?.kind === 'build' &&
          r.runId === this.#runId &&
          r.version === b.version &&
          (r.state === 'dispatched' || r.state === 'running')
            ? { attempt: r.attempt, tokens: r.tokens ?? [] }
            : undefined;
        const q = o.queued?.get(b.id);
        const inQueue = q && q.version === b.version ? q : undefined;
        const { inFlight, tokens } = latestAttempt(recorded, inQueue);
        // Succeeded ones are in the published index, so the plan has them as up to date already.
        const failedBefore = f?.kind === 'failure' && f.input === b.input ? f.reason : undefined;
        return {
          ...(inFlight !== undefined ? { inFlight } : {}),
          ...(tokens ? { tokens } : {}),
          ...(failedBefore !== undefined ? { failedBefore } : {}),
        };
      });
      out.push(...(await Promise.all(batch)));
    }
    return out;
  }

  /** A build's state, awaited: the run cannot go on without it (a RunStateError when it fails). */
  async build(b: RunBuild, r: BuildRecord): Promise<void> {
    const key = buildKey(b.arch, b.name);
    await this.#state
      .put(key, { kind: 'build', runId: this.#runId, version: b.version, ...r })
      .catch((cause: unknown) => {
        throw new RunStateError(key, { cause });
      });
  }

  /**
   * A build's final state that the run does not wait for (failed, skipped): a restart decides
   * from what was in flight and from the failure records, so a failed write is logged and the
   * run goes on.
   */
  buildLater(b: RunBuild, r: BuildRecord): void {
    this.build(b, r).catch((e: unknown) => this.#log(`${(e as Error).message} (the run goes on)`));
  }

  /**
   * A succeeded build's record, not awaited and not confirmed: only its duration is read again
   * (the next run's cost of the build); a restart resumes from the published index and the
   * work queue, never from it.
   */
  succeededLater(b: RunBuild, r: Omit<BuildRecord, 'state'>): void {
    this.#state.putNoWait(buildKey(b.arch, b.name), {
      kind: 'build',
      runId: this.#runId,
      version: b.version,
      state: 'succeeded',
      ...r,
    });
  }

  /** A failure by input (awaited: it is what keeps the next run from building it again). */
  async failure(b: RunBuild, reason: string): Promise<void> {
    const key = failureKey(b.arch, b.name);
    await this.#state
      .put(key, { kind: 'failure', input: b.input, version: b.version, reason })
      .catch((cause: unknown) => {
        throw new RunStateError(key, { cause });
      });
  }

  /**
   * A refused report (never a failure of the package): counted per build, the last one kept.
   * Not awaited, and coalesced: a flood of forged reports costs one write in flight per key.
   */
  refused(
    b: { arch: string; name: string } | undefined,
    r: { attempt: number; agent: string; code: string; reason: string },
  ): void {
    const key = refusedKey(b);
    const cur = this.#refusals.get(key);
    const record: RefusedRecord = {
      kind: 'refused',
      runId: this.#runId,
      count: (cur?.record.count ?? 0) + 1,
      ...r,
      at: Date.now(),
    };
    if (cur) {
      cur.record = record;
      cur.dirty = true;
      if (cur.writing) return;
    }
    const slot = cur ?? { record, writing: false, dirty: true };
    this.#refusals.set(key, slot);
    const write = async () => {
      slot.writing = true;
      while (slot.dirty) {
        slot.dirty = false;
        await this.#state
          .put(key, slot.record)
          .catch((e: unknown) => this.#log(`run state: writing ${key} failed: ${(e as Error).message}`));
      }
      slot.writing = false;
    };
    void write();
  }

  /** Forgets the failure of a build that now succeeded (a failed delete only costs a retry hint). */
  async succeeded(b: RunBuild): Promise<void> {
    if (!this.#failureRecorded.has(b.id)) return;
    await this.#state.delete(failureKey(b.arch, b.name)).catch(() => undefined);
  }
}
