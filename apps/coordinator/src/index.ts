export { Coordinator } from './run/coordinator.js';
export { providesChanged } from './run/cutoff.js';
export { RunStateError } from './run/recorder.js';
export {
  type BuildRow,
  type CoordinatorOptions,
  type FinalState,
  policyOptions,
  type RunEvent,
  type RunPolicy,
  type RunTuning,
  type RunResult,
} from './run/run-types.js';
export { type DistributedOptions, runDistributed } from './run/distributed.js';
export { PlanError, type PlanRunOptions, planRun, type RunBuild, type RunPlan } from './run/plan-run.js';
export { decodeStateRecord, FileStateStore, runKey, type StateRecord } from './run/state.js';
export {
  decodePublisherRecord,
  IndexPublisher,
  LocalRepositoryStore,
  ObjectRepositoryStore,
  type PublisherRecord,
  type RepositoryStore,
} from './repository/index.js';
export { criticalPathPriorities, type Ordering } from './scheduler/index.js';
export { keyringOf, type PlanInputs, planAgainst, runIdFor } from './run/plan-inputs.js';
