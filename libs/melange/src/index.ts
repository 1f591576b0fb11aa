// The melange config model: YAML → validated, substituted config → per-arch scope, conditions,
// pipelines and the needs/provides a build graph counts. No BuildKit, no apk, no I/O beyond
// reading pipeline files. Building blocks only tests exercise live in ./internal.ts.
export { type Arch, ARCH_ALIASES, ARCHES, type ArchInfo, archInfo, findArch } from './arch.js';
export { ConditionError, evaluateCondition } from './cond.js';
export { ConfigError, type Diagnostic, formatDiagnostic, formatPath, type YamlPath } from './diagnostics.js';
export {
  configTooLarge,
  ExpansionBudget,
  MAX_CONFIG_BYTES,
  MAX_EXPANDED_STEPS,
  MAX_PIPELINE_DEPTH,
  readConfigFile,
} from './limits.js';
export {
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
  configNeeds,
  environmentPackages,
  type GraphConfig,
  type GraphStep,
  graphConfig,
  graphStep,
  type PipelineLookup,
} from './projection.js';
export { configScope, inheritScope, OUTDIR, subpackageScope, WORKSPACE } from './scope.js';
export {
  lookupVariable,
  substitute,
  substituteCondition,
  substituteStrict,
  UnknownVariableError,
} from './substitute.js';
export type {
  Configuration,
  Dependencies,
  Group,
  Input,
  PackageOptions,
  Pipeline,
  Scriptlets,
  StrMap,
  User,
} from './types.js';
export { readVarsFile } from './vars-file.js';
export { dumpConfig, loadYaml, PositionIndex } from './yaml.js';
