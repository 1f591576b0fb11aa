/**
 * What the coordinator's tests exercise directly but no other package uses: the early-cutoff
 * rule, the scheduler and the repository's parts. Not a stable surface.
 */
export { providesChanged } from './run/cutoff.js';
export {
  decodePublisherRecord,
  RepositoryError,
  type RepositoryStore,
  serveRepository,
} from './repository/index.js';
export { CycleError, type Ordering, type ScheduledBuild, Scheduler } from './scheduler/index.js';
