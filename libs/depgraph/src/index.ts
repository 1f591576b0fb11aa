export {
  stronglyConnected,
  condensation,
  shortestCycle,
  shortestPath,
  reverseClosure,
  type Adjacency,
  type Sccs,
  type ClosureHit,
} from './analysis.js';
export {
  buildGraph,
  analyze,
  adjacency,
  reverseAdjacency,
  edgeDeps,
  formatCycle,
  costWeights,
  type GraphOptions,
  type GraphReport,
  type CycleReport,
  type CostOptions,
} from './build.js';
export { builtinPipelines, builtinPipelinesDigest } from './builtins.js';
export { CACHE_FORMAT } from './cache.js';
export { changedFiles, changedConfigs, ChangeDetectionError, type ChangedConfig } from './changes.js';
export { graphJson, graphDot, graphText, planText, formatProblem, type GraphJson } from './format.js';
export {
  resolveGraph,
  ProviderIndex,
  type BuildGraph,
  type Edge,
  type ExternalDep,
  type ExternalReason,
} from './graph.js';
export {
  buildModel,
  modelConfig,
  targetsArch,
  type ConfigNode,
  type DepRef,
  type ProvideEntry,
  type ModelProblem,
} from './model.js';
export { parseFile } from './parse-file.js';
export { planBuilds, type Plan, type PlanOptions, type PlannedBuild } from './plan.js';
export { readPublishedIndex, PublishedIndex, PublishedIndexError } from './published.js';
export { scanRepository, ScanError, type RepoScan, type ScanOptions, type ScanStats } from './scan.js';
export {
  schedule,
  induced,
  CYCLE_POLICIES,
  type CyclePolicy,
  type Schedule,
  type DroppedEdge,
} from './schedule.js';
export { type Arch, ARCHES, isArch, type ParseResult, type RepoPipeline, type ScanProblem } from './types.js';
