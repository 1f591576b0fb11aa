// What other packages use: scan a repository, build and analyse its graph, plan builds, print them.
// Building blocks only tests exercise live in ./internal.ts (the `./internal` subpath).
export { adjacency, analyze, buildGraph } from './build.js';
export { builtinPipelines } from './builtins.js';
export { type ChangedConfig, ChangeDetectionError, changedConfigs, changedFiles } from './changes.js';
export { formatProblem, graphDot, graphJson, graphText, planText } from './format.js';
export type { BuildGraph } from './graph.js';
export { buildModel } from './model.js';
export { type Plan, type PlannedBuild, planBuilds, publishedState } from './plan.js';
export { PublishedIndex, PublishedIndexError, readPublishedIndex } from './published.js';
export { type RepoKeys, type RepoScan, ScanError, scanKeys, scanRepository } from './scan.js';
export { schedule } from './schedule.js';
export { type Arch, ARCHES } from './types.js';
