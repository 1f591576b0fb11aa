import type { BuildJob, Staging } from '@melange2/protocol';
import type { StateStore, WorkQueue } from '@melange2/queue';
import type { IndexPublisher } from '../repository/index.js';
import type { Ordering } from '../scheduler/index.js';
import type { RunBuild, RunPlan } from './plan-run.js';
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
  | { readonly type: 'no-agents'; readonly arch: string; readonly waiting: number };

type FinalState = 'succeeded' | 'failed' | 'skipped' | 'up-to-date';

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
}

/** What both run modes take from the command line for their coordinator. */
export interface RunPolicy extends RunTuning {
  readonly repositoryAppend?: readonly string[];
  readonly keyringAppend?: readonly string[];
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
    log: o.log,
  } satisfies Partial<CoordinatorOptions>;
}
