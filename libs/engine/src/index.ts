/**
 * melange config → BuildKit LLB, build environment, SCA, packaging and builds: the names other
 * packages use. The config model (parse, substitution, conditions, pipelines, arches) is
 * @melange2/melange's. Tests reach the building blocks through `@melange2/engine/internal`.
 */
// Compile: config → plan; LLB: plan → BuildKit graph.
export { compileConfig } from './compile/compile.js';
export { NotForArchError } from './compile/plan.js';
export { buildGraph, type GraphOptions, SOURCE_LOCAL } from './llb/graph.js';
// Repositories: every config of a directory.
export {
  type CompileOutcome,
  compileRepository,
  compileText,
  defaultPipelineDirs,
  listConfigs,
  packageSourceDir,
  readEnvFile,
} from './repo.js';
// Builds: environment as per-package layers, SCA, packaging, index, tests.
export { BuildError } from './build/errors.js';
export { type BuildEvent, buildPackage, type CommonRequest } from './build/build.js';
export { testPackage } from './build/test.js';
export { LayerServer } from './environment/serve.js';
/** @public The types in the signatures above, for callers that name them. */
export type {
  BuildPlan,
  CompileOptions,
  PlanEnvironment,
  PlanStep,
  PlanTest,
  StepSource,
} from './compile/plan.js';
/** @public */
export type { BuildGraph, StepSecret } from './llb/graph.js';
/** @public */
export type { StepGrouping } from './llb/groups.js';
/** @public */
export type { CompileFileOptions, RepositoryCompileOptions, RepositorySummary } from './repo.js';
/** @public */
export type { BuildErrorCode, BuildStage } from './build/errors.js';
/** @public */
export type { BuildRequest, BuildResult, BuildTimings } from './build/build.js';
/** @public */
export type { TestRequest, TestResult, TestRunResult } from './build/test.js';
/** @public */
export type { ServedPackage } from './environment/serve.js';
/** @public */
export type { PackagedApk, PackageErrorCode } from './package/package.js';
/** @public The codes a build error's `cause` may carry. */
export {
  EnvironmentError,
  type EnvironmentErrorCode,
  type EnvironmentFailure,
} from './environment/resolve.js';
