import type { Command } from 'commander';

/**
 * Every top-level command of `melange2-orch`, in the order `--help` lists them. Each module is
 * imported only when its command runs (or for `--help`), so a command pays only for the
 * libraries it uses: start-up stays fast as commands are added.
 */
export interface CommandEntry {
  readonly name: string;
  load(): Promise<(program: Command) => void>;
}

export const commands: readonly CommandEntry[] = [
  { name: 'daemons', load: async () => (await import('./daemons.js')).registerDaemons },
  { name: 'nats-config', load: async () => (await import('./nats-config.js')).registerNatsConfig },
  { name: 'graph', load: async () => (await import('./graph.js')).registerGraph },
  { name: 'plan', load: async () => (await import('./plan.js')).registerPlan },
  { name: 'keygen', load: async () => (await import('./keygen.js')).registerKeygen },
  { name: 'pack', load: async () => (await import('./pack.js')).registerPack },
  { name: 'index', load: async () => (await import('./apkindex.js')).registerIndex },
  { name: 'sign-index', load: async () => (await import('./sign-index.js')).registerSignIndex },
  { name: 'verify', load: async () => (await import('./verify.js')).registerVerify },
  { name: 'resolve', load: async () => (await import('./resolve.js')).registerResolve },
  { name: 'compile', load: async () => (await import('./compile.js')).registerCompile },
  { name: 'build', load: async () => (await import('./build.js')).registerBuild },
  { name: 'test', load: async () => (await import('./test.js')).registerTest },
  { name: 'build-all', load: async () => (await import('./build-all.js')).registerBuildAll },
  { name: 'coordinator', load: async () => (await import('./coordinator.js')).registerCoordinator },
  { name: 'agent', load: async () => (await import('./agent.js')).registerAgent },
  { name: 'logs', load: async () => (await import('./logs.js')).registerLogs },
  { name: 'report', load: async () => (await import('./report.js')).registerReport },
  { name: 'trace', load: async () => (await import('./trace.js')).registerTrace },
  { name: 'image', load: async () => (await import('./image.js')).registerImage },
];
