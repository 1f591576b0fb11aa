export {
  Agent,
  type AgentOptions,
  type ExecuteContext,
  type Executor,
  tracer,
} from './agent.js';
export { classify, type Verdict } from './classify.js';
export { type EngineExecutorOptions, engineExecutor } from './engine-executor.js';
export { type NatsAgentOptions, startNatsAgent } from './run-agent.js';
