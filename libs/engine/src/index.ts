// Config: parsing, validation, substitution (parse time).
export {
  ConfigError,
  type Diagnostic,
  formatDiagnostic,
  formatPath,
  type YamlPath,
} from './config/diagnostics.js';
export {
  DEFAULT_BUILD_ENV,
  type ExpandedSubpackage,
  type ParseOptions,
  type ParsedConfig,
  parseConfig,
} from './config/parse.js';
export { compileRe2, type GoRegExp, Re2SyntaxError, replaceAllGo, translateRe2 } from './config/re2.js';
export {
  lookupVariable,
  referencedKeys,
  substitute,
  substituteCondition,
  substituteStrict,
  UnknownVariableError,
} from './config/substitute.js';
export type * from './config/types.js';
export { applyVarTransforms, type VarTransform, VarTransformError } from './config/var-transforms.js';
export { YamlSyntaxError } from './config/yaml.js';
// Pipelines: `uses:` resolution and our built-ins.
export {
  BUILTIN_PIPELINE_DIR,
  InvalidUsesError,
  type PipelineDefinition,
  PipelineNotFoundError,
  PipelineResolver,
} from './pipelines/resolve.js';
// Compile: config → plan.
export { type ArchInfo, archInfo, SUPPORTED_ARCHES, UnknownArchError } from './compile/arch.js';
export {
  type BuildPlan,
  type CompileOptions,
  compileConfig,
  DEFAULT_PATH,
  DEFAULT_SOURCE_DATE_EPOCH,
  NotForArchError,
  OUTDIR,
  type PlanEnvironment,
  type PlanStep,
  type PlanTest,
  type StepSource,
  WORKSPACE,
} from './compile/compile.js';
export { ConditionError, evaluateCondition } from './compile/cond.js';
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
export { readVarsFile } from './build/vars.js';
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
