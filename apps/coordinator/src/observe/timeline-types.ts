/**
 * A run's timeline: every build with its ready → dispatched → started → finished times, where it
 * ran and how it ended. Plain data (no Node imports): the dashboard's browser bundle reads it too.
 */

export const TIMELINE_VERSION = 1;

/** `cancelled`: running (or queued for an agent) when its coordinator stopped or crashed. */
export type BuildPhase =
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'up-to-date'
  | 'cancelled';
export const BUILD_PHASES: readonly BuildPhase[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'skipped',
  'up-to-date',
  'cancelled',
];

export interface TimelineBuild {
  /** `<name>@<arch>`. */
  readonly id: string;
  readonly name: string;
  readonly arch: string;
  readonly version: string;
  /** Ids of this run's builds it waited for. */
  readonly deps: readonly string[];
  state: BuildPhase;
  /** ms since the epoch: all its dependencies were published (or the run began). */
  readyAt?: number;
  dispatchedAt?: number;
  startedAt?: number;
  finishedAt?: number;
  agent?: string;
  /** The agent's slot it ran in (0-based): a lane of the Gantt chart. */
  slot?: number;
  attempts: number;
  /** BuildKit vertices: how many of the build's were cached. */
  steps?: { total: number; cached: number };
  reason?: string;
  logTail?: readonly string[];
  /** When each stage of the build began (embedded runs: the engine's stages, fixed names). */
  stages?: { stage: BuildStage; at: number }[];
  /** The coordinator's publish step for its last attempt that reached it (logs show it). */
  publish?: PublishRecord;
}

/** A package the publish step checked: the sha256 and size it verified against the report. */
interface PublishedPackage {
  readonly filename: string;
  readonly sha256: string;
  readonly size: number;
}

/**
 * What the coordinator's publish step did with a build's report: checked the staged packages,
 * signed them with the repository key and made an index generation with them; or refused them
 * (a `RefusalCode`: not a failure of the package) or failed to publish them.
 */
export type PublishRecord =
  | (PublishCommon & {
      readonly result: 'published';
      /** The repository key's name every package was signed with. */
      readonly signedBy: string;
      /** The arch's index generation that first holds them (absent: the build made no package). */
      readonly generation?: number;
    })
  | (PublishCommon & {
      readonly result: 'refused' | 'failed';
      readonly code: string;
      readonly message: string;
    });

interface PublishCommon {
  readonly attempt: number;
  /** ms since the epoch. */
  readonly startedAt: number;
  readonly finishedAt: number;
  /** As reported (and, when published, as checked). */
  readonly packages: readonly PublishedPackage[];
}

export const BUILD_STAGES = ['environment', 'solve', 'package', 'index'] as const;
export type BuildStage = (typeof BUILD_STAGES)[number];

export interface TimelineAgent {
  readonly id: string;
  arch: string;
  slots: number;
  lastHeartbeat: number;
  alive: boolean;
}

export interface RunTimeline {
  readonly version: typeof TIMELINE_VERSION;
  readonly runId: string;
  readonly repo: string;
  readonly arches: readonly string[];
  status: 'running' | 'finished';
  readonly startedAt: number;
  finishedAt?: number;
  readonly builds: TimelineBuild[];
  /** Published already with the same version: not built (`name@arch`). */
  readonly upToDate: readonly { readonly id: string; readonly version: string }[];
  readonly agents: TimelineAgent[];
}

/** A run in the runs list. */
export interface RunSummary {
  readonly runId: string;
  readonly repo: string;
  readonly status: RunTimeline['status'];
  readonly startedAt: number;
  readonly finishedAt?: number;
  readonly builds: number;
  readonly counts: Readonly<Record<BuildPhase, number>>;
}

export function summaryOf(t: RunTimeline): RunSummary {
  const counts = Object.fromEntries(BUILD_PHASES.map((p) => [p, 0])) as Record<BuildPhase, number>;
  for (const b of t.builds) counts[b.state]++;
  counts['up-to-date'] += t.upToDate.length;
  return {
    runId: t.runId,
    repo: t.repo,
    status: t.status,
    startedAt: t.startedAt,
    ...(t.finishedAt !== undefined ? { finishedAt: t.finishedAt } : {}),
    builds: t.builds.length,
    counts,
  };
}

/** Where the coordinator serves a build's full log. */
export const logPath = (runId: string, arch: string, name: string): string =>
  `/runs/${encodeURIComponent(runId)}/builds/${encodeURIComponent(arch)}/${encodeURIComponent(name)}/log`;
