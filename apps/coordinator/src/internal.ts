/**
 * What the coordinator's tests and benches exercise directly but no other package uses: the
 * early-cutoff rule, planning, the scheduler and the repository's parts. Not a stable surface.
 */
export { providesChanged } from './run/cutoff.js';
export { AgentRegistry } from './run/agents.js';
export { DispatchTokens, tokenHash } from './run/dispatch-tokens.js';
export { planRun } from './run/plan-run.js';
export { memoBySchema } from './run/plan-memo.js';
export { fastMemo } from './run/plan-memo-check.js';
export {
  decodePublisherRecord,
  RepositoryError,
  type RepositoryStore,
  serveRepository,
} from './repository/index.js';
export {
  CycleError,
  criticalPathPriorities,
  DEFAULT_ORDERING,
  makespanLowerBound,
  ORDERINGS,
  type Ordering,
  type ScheduledBuild,
  Scheduler,
  simulateRun,
} from './scheduler/index.js';
export { analyse } from './observe/analysis.js';
export { chromeTrace } from './observe/chrome-trace.js';
export { criticalPath } from './observe/critical-path.js';
export { FileRunStore, findRun, ObjectRunStore } from './observe/run-store.js';
export { TimelineRecorder } from './observe/timeline-recorder.js';
export type { RunTimeline, TimelineBuild } from './observe/timeline-types.js';
export { parseRange } from './logs/range.js';
export { observePublish } from './run/publish-facts.js';
export { PublishSections, publishSection } from './logs/publish-section.js';
