import { z } from 'zod';

/**
 * What the coordinator and the agents say to each other, as types and as the schemas every
 * decoder checks. Nothing here does I/O.
 */

/** One package×arch build, as it travels on the work queue. */
export interface BuildJob {
  readonly runId: string;
  /** `<name>@<arch>`. */
  readonly id: string;
  readonly name: string;
  readonly arch: string;
  /** `version-rEPOCH` the plan expects. */
  readonly version: string;
  /** The config, relative to the repository root the agent was given. */
  readonly configFile: string;
  /** Counts dispatches of this build in the run; part of the message id. */
  readonly attempt: number;
  /**
   * The dispatch token: random (256 bits, hex), known only to the coordinator and to whoever
   * pulls this job. The report of this attempt must carry it; the coordinator takes it once.
   */
  readonly token: string;
  /**
   * The published repository's index generation (`<epoch>-<n>`) when this job was released: the
   * agent installs from `<published URL>/r/<generation>`, so an index cached by URL is never older
   * than the dependencies. Where environments install from is never a field of a job: the
   * agent's own `--repository-append`, plus the published repository it learns from the
   * coordinator's run info (see `RepositoryInfo`).
   */
  readonly generation?: string;
  /** The coordinator's estimate of the build's duration (ms): recorded, or from `resources`. */
  readonly cost?: number;
  /**
   * Names (packages and what they provide) this run is still to produce for the job's arch: the
   * environment must not install an older provider of any of them; it reports `awaiting` instead
   * and the build is dispatched again once they are published. Absent when there are none (a
   * job without it is what protocol 2 always sent); at most {@link MAX_AWAITING} names.
   */
  readonly awaiting?: readonly string[];
}

/** A package the agent built and put into the staging area under `key`. */
export interface StagedApk {
  readonly filename: string;
  readonly key: string;
  /** Hex SHA-256 and size of the staged bytes: the coordinator refuses a staged file that differs. */
  readonly sha256: string;
  readonly size: number;
}

export type BuildOutcome =
  | {
      readonly kind: 'succeeded';
      readonly apks: readonly StagedApk[];
      /** BuildKit vertices of the solve: all, and those the daemon had cached. */
      readonly steps: { readonly total: number; readonly cached: number };
      /** When each of the engine's stages began (ms since the epoch, the agent's clock): the trace's nested slices. */
      readonly stages?: readonly { readonly stage: string; readonly at: number }[];
    }
  | {
      readonly kind: 'failed';
      /** config, environment, solve, package, index. */
      readonly stage: string;
      readonly message: string;
      readonly logTail: readonly string[];
    }
  /**
   * The environment would have installed an older provider of `name`, which the run is still to
   * produce (it was in the job's `awaiting`): not a failure; the build waits for it. Only ever
   * sent for a job that carried `awaiting`, so a coordinator that never sends it never sees one.
   */
  | { readonly kind: 'awaiting'; readonly name: string; readonly message: string };

/** The result of one attempt; the coordinator publishes, records, then answers. */
export interface BuildReport {
  readonly runId: string;
  readonly id: string;
  readonly attempt: number;
  /** The job's dispatch token (see `BuildJob.token`). */
  readonly token: string;
  readonly agent: string;
  readonly durationMs: number;
  readonly outcome: BuildOutcome;
}

/** What the coordinator answers to a report: `stale` when the build was settled already. */
export interface ReportAck {
  readonly ok: true;
  readonly stale?: boolean;
}

/**
 * Why a report was refused for good (the agent does not offer it again): it names no build in
 * flight, its token is wrong or was used already, or what it staged is not what it says (a
 * checksum, a size, a package's name, version, arch or origin) or cannot be read.
 */
export type RefusalCode =
  | 'not-dispatched'
  | 'wrong-token'
  | 'replayed'
  | 'staged-mismatch'
  | 'package-mismatch'
  | 'staged-unreadable';

/**
 * The coordinator's answer on the wire: taken, or refused with the reason. A refusal with a
 * `refused` code is final (the report will never be taken; its build is dispatched again or
 * waits for the right report); one without is temporary (the coordinator is stopping, a state
 * write failed) and the agent offers the report again.
 */
export type ReportAnswer =
  | ReportAck
  | { readonly ok: false; readonly error: string; readonly refused?: RefusalCode };

/**
 * Fire-and-forget news from agents: progress for the display, slots for dispatch. `started` and
 * `transient` carry the dispatch token of the job they are about (as its report does): the
 * coordinator ignores one whose token is not the attempt's in flight, so whoever may publish
 * events (any agent) cannot claim another's build nor rewrite why a build was given up.
 */
export type AgentEvent =
  | {
      readonly type: 'started';
      readonly runId: string;
      readonly id: string;
      readonly attempt: number;
      readonly token: string;
      readonly agent: string;
    }
  | {
      /** A fault a retry may fix (daemon unreachable, upload failed): the message is given back. */
      readonly type: 'transient';
      readonly runId: string;
      readonly id: string;
      readonly attempt: number;
      readonly token: string;
      readonly agent: string;
      readonly message: string;
    }
  | Heartbeat;

/** An agent's slots, sent periodically; the coordinator dispatches only to live slots. */
export interface Heartbeat {
  readonly type: 'heartbeat';
  readonly agent: string;
  readonly arch: string;
  readonly slots: number;
  readonly busy: number;
  /** False when the agent is leaving (its slots no longer count). */
  readonly alive: boolean;
  /** Builds it takes beyond its slots (pulled ahead while builds are short); absent: none. */
  readonly prefetch?: number;
}

/** Bounds on free text: a failure's message and each line of its log tail. */
export const MAX_TEXT = 16 * 1024;
export const MAX_LOG_LINE = 2 * 1024;
export const MAX_LOG_LINES = 100;
/** Names a job's `awaiting` may carry (a run with more defers the build instead: see the coordinator). */
export const MAX_AWAITING = 1024;

// Names, ids and paths: short enough that a flood of them is cheap to refuse.
const name = z.string().min(1).max(1024);
/** Stages a succeeded report may time (the engine has five). */
const MAX_STAGES = 16;
const text = z.string().max(MAX_TEXT);
const count = z.number().int().nonnegative();
/** A dispatch token: 32 random bytes as hex. */
const token = z.string().regex(/^[0-9a-f]{64}$/, 'not a dispatch token (64 hex digits)');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'not a hex sha256');

/**
 * Jobs and reports are strict: a field this protocol does not have (a job naming `repositories`
 * or `keyring`, as protocol 1 did) makes the message malformed, never silently obeyed or dropped.
 */
export const buildJobSchema: z.ZodType<BuildJob> = z.strictObject({
  runId: name,
  id: name,
  name,
  arch: name,
  version: name,
  configFile: name,
  attempt: count,
  token,
  generation: z
    .string()
    .regex(/^[A-Za-z0-9-]{1,64}$/, 'not an index generation')
    .optional(),
  cost: z.number().nonnegative().optional(),
  awaiting: z.array(z.string().min(1).max(256)).min(1).max(MAX_AWAITING).optional(),
});

const stagedApkSchema = z.strictObject({
  filename: name,
  key: name,
  sha256,
  size: count,
});

const buildOutcomeSchema: z.ZodType<BuildOutcome> = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('succeeded'),
    apks: z.array(stagedApkSchema).max(4096),
    steps: z.strictObject({ total: count, cached: count }),
    stages: z
      .array(z.strictObject({ stage: name, at: z.number().nonnegative() }))
      .max(MAX_STAGES)
      .optional(),
  }),
  z.strictObject({
    kind: z.literal('failed'),
    stage: name,
    message: text,
    logTail: z.array(z.string().max(MAX_LOG_LINE)).max(MAX_LOG_LINES),
  }),
  z.strictObject({ kind: z.literal('awaiting'), name: z.string().min(1).max(256), message: text }),
]);

export const buildReportSchema: z.ZodType<BuildReport> = z.strictObject({
  runId: name,
  id: name,
  attempt: count,
  token,
  agent: name,
  durationMs: z.number().nonnegative(),
  outcome: buildOutcomeSchema,
});

export const reportAnswerSchema: z.ZodType<ReportAnswer> = z.union([
  z.object({ ok: z.literal(true), stale: z.boolean().optional() }),
  z.object({
    ok: z.literal(false),
    error: text,
    refused: z
      .enum([
        'not-dispatched',
        'wrong-token',
        'replayed',
        'staged-mismatch',
        'package-mismatch',
        'staged-unreadable',
      ])
      .optional(),
  }),
]);

export const agentEventSchema: z.ZodType<AgentEvent> = z.discriminatedUnion('type', [
  z.object({ type: z.literal('started'), runId: name, id: name, attempt: count, token, agent: name }),
  z.object({
    type: z.literal('transient'),
    runId: name,
    id: name,
    attempt: count,
    token,
    agent: name,
    message: text,
  }),
  z.object({
    type: z.literal('heartbeat'),
    agent: name,
    arch: name,
    slots: count,
    busy: count,
    alive: z.boolean(),
    prefetch: count.optional(),
  }),
]);

/** `s`, cut to `max` characters (free text that must fit a message). */
export const clip = (s: string, max = MAX_TEXT) => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/**
 * A failed outcome that fits the bounds: the message and each log line clipped, the log tail's
 * last lines kept (the end of a log is where a build says why it failed).
 */
export function failedOutcome(
  stage: string,
  message: string,
  logTail: readonly string[],
): Extract<BuildOutcome, { kind: 'failed' }> {
  return {
    kind: 'failed',
    stage,
    message: clip(message, MAX_TEXT),
    logTail: logTail.slice(-MAX_LOG_LINES).map((l) => clip(l, MAX_LOG_LINE)),
  };
}
