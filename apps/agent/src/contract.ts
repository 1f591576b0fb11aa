/**
 * What the coordinator and the agents say to each other. The coordinator imports these types
 * (apps/coordinator depends on @melange2/agent); nothing here does I/O.
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
   * Where the environment installs from, the published repository first (a directory, or the
   * coordinator's HTTP URL), so a dependent sees the packages its dependencies just published.
   */
  readonly repositories: readonly string[];
  /** Extra trusted public keys (the repository key is the agent's own signing key). */
  readonly keyring: readonly string[];
  /** The coordinator's estimate of the build's duration (ms): recorded, or from `resources`. */
  readonly cost?: number;
}

/** A package the agent built and put into the staging area under `key`. */
export interface StagedApk {
  readonly filename: string;
  readonly key: string;
}

export type BuildOutcome =
  | {
      readonly kind: 'succeeded';
      readonly apks: readonly StagedApk[];
      /** BuildKit vertices of the solve: all, and those the daemon had cached. */
      readonly steps: { readonly total: number; readonly cached: number };
    }
  | {
      readonly kind: 'failed';
      /** config, environment, solve, package, index. */
      readonly stage: string;
      readonly message: string;
      readonly logTail: readonly string[];
    };

/** The result of one attempt; the coordinator publishes, records, then answers. */
export interface BuildReport {
  readonly runId: string;
  readonly id: string;
  readonly attempt: number;
  readonly agent: string;
  readonly durationMs: number;
  readonly outcome: BuildOutcome;
}

/** What the coordinator answers to a report: `stale` when the build was settled already. */
export interface ReportAck {
  readonly ok: true;
  readonly stale?: boolean;
}

/** Fire-and-forget news from agents: progress for the display, slots for dispatch. */
export type AgentEvent =
  | {
      readonly type: 'started';
      readonly runId: string;
      readonly id: string;
      readonly attempt: number;
      readonly agent: string;
    }
  | {
      /** A fault a retry may fix (daemon unreachable, upload failed): the message is given back. */
      readonly type: 'transient';
      readonly runId: string;
      readonly id: string;
      readonly attempt: number;
      readonly agent: string;
      readonly message: string;
    }
  | {
      readonly type: 'heartbeat';
      readonly agent: string;
      readonly arch: string;
      readonly slots: number;
      readonly busy: number;
      /** False when the agent is leaving (its slots no longer count). */
      readonly alive: boolean;
    };

/** The agent's line back to the coordinator: in-process (embedded) or over NATS. */
export interface CoordinatorLink {
  event(e: AgentEvent): void;
  /** Resolves once the coordinator has taken the report (published it, or recorded the failure). */
  report(r: BuildReport): Promise<ReportAck>;
}

/**
 * Where agents leave built packages for the coordinator, the single index writer: a run's
 * staging area, never the repository itself, so an agent killed mid-upload publishes nothing.
 */
export interface Staging {
  put(key: string, file: string): Promise<void>;
  /** A local path holding the staged file; `release` removes any temporary copy. */
  fetch(key: string): Promise<{ path: string; release(): Promise<void> }>;
  delete(keys: readonly string[]): Promise<void>;
  /** Removes everything under a prefix (a finished run's leftovers from agents that died). */
  purge(prefix: string): Promise<void>;
}

/** Message ids dedupe republished work: the same build attempt is never queued twice. */
export function jobMessageId(runId: string, id: string, attempt: number): string {
  return `${runId}:${id}:${attempt}`;
}

export function parseJobMessageId(msgId: string): { runId: string; id: string; attempt: number } | undefined {
  const m = /^(.+?):(.+):(\d+)$/.exec(msgId);
  return m ? { runId: m[1]!, id: m[2]!, attempt: Number(m[3]) } : undefined;
}

/** The staging key of one package of one attempt. */
export function stagingKey(
  job: Pick<BuildJob, 'runId' | 'id' | 'attempt' | 'arch'>,
  filename: string,
): string {
  return `${job.runId}/${job.id.replace(/[^A-Za-z0-9._+-]/g, '_')}/${job.attempt}/${job.arch}/${filename}`;
}
