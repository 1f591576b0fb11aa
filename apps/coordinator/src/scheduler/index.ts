export {
  CycleError,
  criticalPathPriorities,
  DEFAULT_ORDERING,
  ORDERINGS,
  type Ordering,
} from './priority.js';
export { type ScheduledBuild, Scheduler } from './scheduler.js';
export { makespanLowerBound, simulateRun } from './simulate.js';
