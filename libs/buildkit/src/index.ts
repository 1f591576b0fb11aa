/** A BuildKit client: LLB builders, the Control API, sessions and progress. */
export * as llb from './llb/index.js';
export {
  Definition,
  marshal,
  type MarshalOptions,
  type Platform,
  parsePlatform,
  formatPlatform,
  State,
} from './llb/index.js';
