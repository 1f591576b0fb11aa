/**
 * A BuildKit client: LLB builders, the Control API, sessions and progress. Tests reach the wire
 * codecs and session internals through `@melange2/buildkit/internal`.
 */
export * as llb from './llb/index.js';
export { Definition, marshal, type Platform, parsePlatform, State } from './llb/index.js';
export {
  BuildkitClient,
  type BuildkitVersion,
  type ConnectOptions,
  type PruneOptions,
  type UsageRecord,
  type WorkerInfo,
} from './client/client.js';
export type { TlsOptions } from './client/address.js';
export type { CacheSpec, ExportSpec, SolveControl, SolveOptions, SolveResult } from './client/solve.js';
export {
  BuildkitError,
  CancelledError,
  ConnectError,
  type FailedStep,
  RpcError,
  SolveError,
  UsageError,
} from './errors.js';
export type { LocalDir } from './session/filesync.js';
export type { SolveEvent, SolveSummary, VertexInfo, VertexOutcome, VertexRecord } from './progress/events.js';
export { ProgressRenderer, type RendererOptions, type RenderTarget } from './progress/renderer.js';
export { ProgressTracker } from './progress/tracker.js';
