export { CycleError, criticalPathPriorities } from './priority.js';
export { type Ordering, type ScheduledBuild, Scheduler } from './scheduler.js';
