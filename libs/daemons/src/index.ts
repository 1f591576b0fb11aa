/** Starts, watches and stops local buildkitd and nats-server processes: the names other packages use. */
export { ARCH_PLATFORMS, ARCHES, type Arch, type Platform, isArch } from './arch.js';
export { type BuildkitdOptions, type RunningBuildkitd, startBuildkitd } from './buildkitd.js';
export { DaemonStartError, ToolNotFoundError } from './errors.js';
export {
  DEFAULT_STATE_DIR,
  envLines,
  type LocalSetStatus,
  localSetDown,
  localSetStatus,
  localSetUp,
} from './local-set.js';
export { type NatsOptions, type RunningNats, startNats } from './nats.js';
export { isAlive } from './process.js';
export { freePort } from './probe.js';
export { findTool, toolsDir } from './tools.js';
