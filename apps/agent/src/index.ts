export { Agent } from './agent.js';
export { engineExecutor } from './engine-executor.js';
export { startNatsAgent } from './run-agent.js';
export { localSources } from './sources.js';
