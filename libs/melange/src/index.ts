// The melange config model: YAML → validated, substituted config → per-arch scope, conditions,
// pipelines and the needs/provides a build graph counts. No BuildKit, no apk, no I/O beyond
// reading pipeline files.
export {
  type Arch,
  ARCH_ALIASES,
  type ArchInfo,
  ARCHES,
  archInfo,
  findArch,
  isArch,
  UnknownArchError,
} from './arch.js';
export { ConditionError, evaluateCondition, type Lookup } from './cond.js';
export {
  ConfigError,
  type Diagnostic,
  formatDiagnostic,
  formatPath,
  type Severity,
  type YamlPath,
} from './diagnostics.js';
export {
  DEFAULT_BUILD_ENV,
  type ExpandedSubpackage,
  type ParseOptions,
  type ParsedConfig,
  parseConfig,
  parseGraphConfig,
} from './parse.js';
export {
  BUILTIN_PIPELINE_DIR,
  InvalidUsesError,
  type PipelineDefinition,
  PipelineNotFoundError,
  PipelineResolver,
  parsePipelineFile,
  resolverLookup,
} from './pipelines.js';
export {
  buildsFor,
  type ConfigNeeds,
  configNeeds,
  environmentPackages,
  type GraphConfig,
  type GraphStep,
  type GraphSubpackage,
  graphConfig,
  graphStep,
  graphSteps,
  type PipelineLookup,
  type PipelineNeed,
} from './projection.js';
export { type GoRegExp, compileRe2, Re2SyntaxError, replaceAllGo } from './regexp.js';
export { configScope, inheritScope, OUTDIR, type ScopeSource, subpackageScope, WORKSPACE } from './scope.js';
export {
  lookupVariable,
  referencedKeys,
  substitute,
  substituteCondition,
  substituteStrict,
  UnknownVariableError,
} from './substitute.js';
export type {
  BuildOption,
  Configuration,
  Copyright,
  Dependencies,
  Environment,
  Group,
  Input,
  Package,
  PackageOptions,
  Pipeline,
  PipelineFile,
  Resources,
  Scriptlets,
  SetCap,
  StrMap,
  Subpackage,
  Test,
  User,
  VarTransformEntry,
} from './types.js';
export { readVarsFile, VarsFileError } from './vars-file.js';
export { applyVarTransforms, type VarTransform, VarTransformError } from './var-transforms.js';
export { loadYaml, PositionIndex, type YamlValue, YamlSyntaxError } from './yaml.js';
