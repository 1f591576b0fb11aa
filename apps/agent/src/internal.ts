/**
 * What the agent's tests exercise directly but no other package uses: the executor contract and
 * the failure classification. Not a stable surface.
 */
export type { Executor } from './agent.js';
export { classify } from './classify.js';
export { ProgressLines } from './build-log.js';
