import type { SigningKey } from '@melange2/apk';
import type { BuildJob, RefusalCode, Staging } from '@melange2/protocol';
import type { StateStore, WorkQueue } from '@melange2/queue';
import type { PublishRecord } from '../observe/timeline-types.js';
import type { IndexPublisher } from '../repository/index.js';
import type { Ordering } from '../scheduler/index.js';
import type { RunBuild, RunPlan } from './plan-run.js';
import type { ReachIndex } from './reach.js';
import type { StateRecord } from './state.js';

/** What a run tells its caller, what it returns, and what it is given. */

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
  /**
   * Not dispatched, or given back by its agent: its environment would install an older provider
   * of `name` (none when deferred for naming too many), which builds `on` of the run are still to
   * produce; it goes again once they are published (`on` empty: at once, they are already).
   */
  | {
      readonly type: 'waiting';
      readonly build: RunBuild;
      readonly name?: string;
      readonly on: readonly string[];
      readonly agent?: string;
    }
  | { readonly type: 'no-agents'; readonly arch: string; readonly waiting: number }
  /** The publish step of a report ended (before its `succeeded`, `failed` or `refused`). */
  | { readonly type: 'published'; readonly build: RunBuild; readonly publish: PublishRecord }
  /**
   * A report refused for good (forged, replayed, or not matching what was staged): never a
   * failure of the package. `build` when it names a build of the run.
   */
  | {
      readonly type: 'refused';
      readonly build?: RunBuild;
      readonly id: string;
      readonly attempt: number;
      readonly agent: string;
      readonly code: RefusalCode;
      readonly reason: string;
      /** The build waits for the right report, is dispatched again, or is given up as `refused`. */
      readonly outcome: 'waiting' | 'redispatched' | 'given-up';
    };

/**
 * `refused`: every report of the build's last attempts was refused (what was staged never
 * checked out): not a failure of the package, and not remembered as one.
 */
type FinalState = 'succeeded' | 'failed' | 'skipped' | 'up-to-date' | 'refused';

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
  /** Reports refused as forged, replayed or not matching what was staged. */
  readonly refusedReports: number;
  /** `started` / `transient` events ignored: their dispatch token was not the attempt's in flight. */
  readonly ignoredEvents: number;
  readonly upToDate: RunPlan['upToDate'];
  readonly problems: readonly string[];
  readonly cycles: readonly string[];
  readonly wallMs: number;
}

/** How a run goes, the same for both modes. */
interface RunTuning {
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
  /** Faults the run carries on after (a state write that failed, a refused message); stderr when not given. */
  readonly log?: (line: string) => void;
}

export interface CoordinatorOptions extends RunTuning {
  readonly runId: string;
  readonly plan: RunPlan;
  readonly queue: WorkQueue<BuildJob>;
  readonly staging: Staging;
  readonly publisher: IndexPublisher;
  /** The repository key: the coordinator signs every package it publishes (agents hold no key). */
  readonly signingKey: SigningKey;
  readonly state: StateStore<StateRecord>;
  /**
   * The published repository: a directory, or a URL served by `serveRepository`; jobs carry its
   * index generation (a new one after each publish) so that an index cached by URL is never
   * older than the dependencies a build was released for.
   */
  readonly published: string;
  /**
   * What installing each name pulls in (the published and appended repositories' indexes read):
   * how far a job's `awaiting` reaches. Default: the repository's configs' runtime dependencies only.
   */
  readonly reach?: ReachIndex;
  /**
   * What must be done before any job goes out (the run's set-up: each arch's index, the run
   * info). `run()` reads the run's records meanwhile, and fails with it if it fails.
   */
  readonly gate?: Promise<unknown>;
}

/** What both run modes take from the command line for their coordinator. */
export interface RunPolicy extends RunTuning {
  readonly repositoryAppend?: readonly string[];
  readonly keyringAppend?: readonly string[];
}

export function policyOptions(o: RunPolicy) {
  return {
    ordering: o.ordering,
    retryFailed: o.retryFailed,
    earlyCutoff: o.earlyCutoff,
    agentTimeoutMs: o.agentTimeoutMs,
    onEvent: o.onEvent,
    log: o.log,
  } satisfies Partial<CoordinatorOptions>;
}
