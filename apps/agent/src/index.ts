export {
  Agent,
  type AgentOptions,
  ENQUEUED_AT,
  type ExecuteContext,
  type Executor,
  tracer,
} from './agent.js';
export { classify, type Verdict } from './classify.js';
export {
  type AgentEvent,
  type BuildJob,
  type BuildOutcome,
  type BuildReport,
  type CoordinatorLink,
  jobMessageId,
  parseJobMessageId,
  type ReportAck,
  type StagedApk,
  type Staging,
  stagingKey,
} from './contract.js';
export { type EngineExecutorOptions, engineExecutor } from './engine-executor.js';
export { natsLink, subjects } from './nats-link.js';
export { LocalStaging, ObjectStaging, StagingError } from './staging.js';
export { type NatsAgentOptions, natsNames, startNatsAgent } from './run-agent.js';
