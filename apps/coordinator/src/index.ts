export { Coordinator } from './run/coordinator.js';
export { RunStateError } from './run/recorder.js';
export {
  policyOptions,
  type RunEvent,
  type RunPolicy,
  type RunResult,
} from './run/run-types.js';
export { type DistributedOptions, runDistributed } from './run/distributed.js';
export { PlanError, type RunBuild, type RunPlan } from './run/plan-run.js';
export { decodeStateRecord, FileStateStore, type StateRecord } from './run/state.js';
export {
  IndexPublisher,
  LocalRepositoryStore,
  ObjectRepositoryStore,
  type PublisherRecord,
} from './repository/index.js';
export { RunMetrics } from './metrics/run-metrics.js';
export { logMetricsRoute } from './logs/routes.js';
export { PublishSections } from './logs/publish-section.js';
export { DEFAULT_LOG_RETENTION, pruneLogs } from './logs/retention.js';
export { keyringOf, type PlanInputs, planAgainst, runIdFor } from './run/plan-inputs.js';
export { ReachIndex, reachFor } from './run/reach.js';
export {
  chromeTrace,
  Dashboard,
  FileRunStore,
  findRun,
  ObjectRunStore,
  reportHtml,
  type RunStore,
  serveDashboard,
  TimelineError,
  TimelineRecorder,
} from './observe/index.js';
