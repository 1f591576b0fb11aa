// The config model (parse, substitution, conditions, pipelines, arches) is @melange2/melange's.
// Compile: config → plan.
export {
  type BuildPlan,
  type CompileOptions,
  compileConfig,
  DEFAULT_PATH,
  DEFAULT_SOURCE_DATE_EPOCH,
  NotForArchError,
  type PlanEnvironment,
  type PlanStep,
  type PlanTest,
  type StepSource,
} from './compile/compile.js';
// LLB: plan → BuildKit graph.
export {
  BUILD_UID,
  type BuildGraph,
  buildGraph,
  ENVIRONMENT_LOCAL,
  type GraphOptions,
  MELANGE_CACHE_DIR,
  MELANGE_CACHE_ID,
  placeholderEnvironment,
  SOURCE_LOCAL,
  type StepSecret,
  shellQuote,
  stepScript,
} from './llb/graph.js';
// Repositories: every config of a directory.
export {
  type CompileFileOptions,
  type CompileOutcome,
  compileRepository,
  compileText,
  configName,
  defaultPipelineDirs,
  listConfigs,
  packageSourceDir,
  type RepositoryCompileOptions,
  type RepositorySummary,
  readEnvFile,
} from './repo.js';
// Builds: environment as per-package layers, SCA, packaging, index, tests.
export { type BuildStage, BuildError } from './build/errors.js';
export {
  type BuildEvent,
  type BuildRequest,
  type BuildResult,
  type BuildTimings,
  buildPackage,
  bytesTransferred,
  type CommonRequest,
  defaultCacheDir,
  planBuild,
} from './build/build.js';
export { type TestResult, type TestRunResult, testPackage } from './build/test.js';
export {
  EnvironmentError,
  type EnvironmentRequest,
  type GeneratedFile,
  type ResolvedEnvironment,
  resolveEnvironment,
} from './environment/resolve.js';
export {
  accountFiles,
  type EnvironmentLayers,
  environmentLayers,
  generatedLayer,
  packageLocalName,
} from './environment/layers.js';
export { LayerServer, type ServedPackage } from './environment/serve.js';
export { ElfError, type ElfInfo, isElf, parseElf } from './sca/elf.js';
export {
  analyzePackage,
  parsePcFile,
  type ScaOptions,
  type ScaResult,
  shebangCommand,
  sonameVersion,
} from './sca/sca.js';
export {
  apkPath,
  type PackagedApk,
  PackageError,
  packageMetadata,
  packageOutputs,
  updateRepositoryIndex,
} from './package/package.js';
