export { ARCH_PLATFORMS, ARCHES, type Arch, type Platform, archOfPlatform, isArch } from './arch.js';
export { type BuildkitdOptions, buildkitdArgs, type RunningBuildkitd, startBuildkitd } from './buildkitd.js';
export { DaemonStartError, ToolNotFoundError } from './errors.js';
export {
  DEFAULT_STATE_DIR,
  type DaemonRecord,
  envLines,
  type LocalSetState,
  type LocalSetStatus,
  localSetDown,
  localSetStatus,
  localSetUp,
  readLocalSet,
} from './local-set.js';
export { type NatsOptions, type RunningNats, startNats } from './nats.js';
export { isAlive, launch, type LaunchSpec, tailOfFile, terminate } from './process.js';
export { canConnect, freePort } from './probe.js';
export { findTool, toolsDir } from './tools.js';
