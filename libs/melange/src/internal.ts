// For tests of this package and its close users: the schema decoder and YAML loader.
export { locateFindings, loadYamlOrConfigError } from './parse.js';
export { configSchema, decode, type Finding, pipelineSchema, type Schema } from './schema.js';
