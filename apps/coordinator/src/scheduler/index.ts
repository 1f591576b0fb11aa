export { Heap } from './heap.js';
export { type CostNode, CycleError, criticalPathPriorities } from './priority.js';
export {
  type BuildState,
  type Ordering,
  type ScheduledBuild,
  Scheduler,
  type SchedulerOptions,
  type StateKind,
} from './scheduler.js';
