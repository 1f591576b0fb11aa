/**
 * What the coordinator's tests and benches exercise directly but no other package uses: the
 * early-cutoff rule, planning, the scheduler and the repository's parts. Not a stable surface.
 */
export { providesChanged } from './run/cutoff.js';
export { DispatchTokens } from './run/dispatch-tokens.js';
export { planRun } from './run/plan-run.js';
export {
  decodePublisherRecord,
  RepositoryError,
  type RepositoryStore,
  serveRepository,
} from './repository/index.js';
export {
  CycleError,
  criticalPathPriorities,
  type Ordering,
  type ScheduledBuild,
  Scheduler,
} from './scheduler/index.js';
