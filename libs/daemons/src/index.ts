/** Starts, watches and stops local buildkitd and nats-server processes: the names other packages use. */
export { ARCH_PLATFORMS, ARCHES, type Arch, type Platform } from './arch.js';
export { type RunningBuildkitd, startBuildkitd } from './buildkitd.js';
/** @public The options and handles of the start functions. */
export type { BuildkitdOptions } from './buildkitd.js';
export { DaemonStartError, ToolNotFoundError } from './errors.js';
/** @public What `writeNatsSecurity` throws for a role name the config cannot hold. */
export { NatsAuthError } from './errors.js';
export {
  DEFAULT_STATE_DIR,
  envLines,
  type LocalSetStatus,
  localSetDown,
  localSetStatus,
  localSetUp,
} from './local-set.js';
export { addNatsRoles, type NatsSecurityFiles, seedFile, writeNatsSecurity } from './nats-auth.js';
/** @public The types in the signatures of `localSetUp` and `writeNatsSecurity`. */
export type { NatsSecurity } from './local-set.js';
/** @public */
export type { AuthRole } from './nats-auth.js';
/** @public */
export type { TlsFiles } from './tls.js';
export { startNats } from './nats.js';
/** @public */
export type { NatsOptions, RunningNats } from './nats.js';
export { isAlive } from './process.js';
export { freePort } from './probe.js';
export { findTool, toolsDir } from './tools.js';
