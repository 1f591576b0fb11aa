export {
  type BuildRow,
  Coordinator,
  type CoordinatorOptions,
  type FinalState,
  policyOptions,
  providesChanged,
  type RunEvent,
  type RunPolicy,
  type RunResult,
} from './run/coordinator.js';
export { type DistributedOptions, runDistributed } from './run/distributed.js';
export { PlanError, type PlanRunOptions, planRun, type RunBuild, type RunPlan } from './run/plan-run.js';
export { FileStateStore, runKey, type StateRecord } from './run/state.js';
export {
  IndexPublisher,
  LocalRepositoryStore,
  ObjectRepositoryStore,
  type PublisherRecord,
  type RepositoryStore,
} from './repository/index.js';
export { criticalPathPriorities, type Ordering } from './scheduler/index.js';
export { keyringOf, type PlanInputs, planAgainst, runIdFor } from './run/plan-inputs.js';
