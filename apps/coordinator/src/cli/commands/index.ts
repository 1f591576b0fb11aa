import type { Command } from 'commander';
import { registerDaemons } from './daemons.js';
import { registerGraph } from './graph.js';
import { registerPlan } from './plan.js';
import { registerIndex } from './apkindex.js';
import { registerKeygen } from './keygen.js';
import { registerPack } from './pack.js';
import { registerResolve } from './resolve.js';
import { registerSignIndex } from './sign-index.js';
import { registerVerify } from './verify.js';
import { registerCompile } from './compile.js';
import { registerBuild } from './build.js';
import { registerTest } from './test.js';
import { registerBuildAll } from './build-all.js';
import { registerCoordinator } from './coordinator.js';
import { registerAgent } from './agent.js';

/** Every top-level command of `melange2-orch`, in the order `--help` lists them. */
export const commands: ReadonlyArray<(program: Command) => void> = [
  registerDaemons,
  registerGraph,
  registerPlan,
  registerKeygen,
  registerPack,
  registerIndex,
  registerSignIndex,
  registerVerify,
  registerResolve,
  registerCompile,
  registerBuild,
  registerTest,
  registerBuildAll,
  registerCoordinator,
  registerAgent,
];
