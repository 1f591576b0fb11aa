import { ConfigError, type ConfigErrorCode, type Diagnostic, type YamlPath } from './diagnostics.js';
import {
  type GraphConfig,
  type GraphSource,
  type GraphStep,
  graphSteps,
  toGraphConfig,
} from './projection.js';
import { checkConfigSize } from './limits.js';
import { isPackageVersion } from './version.js';
import { configSchema, decode, type Finding, graphConfigSchema, type Schema } from './schema.js';
import { referencedKeys, substitute, substituteCondition } from './substitute.js';
import type { Configuration, Dependencies, Package, Pipeline, StrMap, Subpackage } from './types.js';
import { applyVarTransforms, VarTransformError } from './var-transforms.js';
import {
  sList,
  substituteEnvironment,
  substitutePackage,
  substitutePipeline,
  substituteSubpackage,
  substituteTest,
  withBuildAccount,
} from './substitute-config.js';
import { loadYaml, PositionIndex, YamlSyntaxError } from './yaml.js';

/** A subpackage after `range` expansion, remembering where it came from in the file. */
export interface ExpandedSubpackage extends Subpackage {
  /** Index in the YAML `subpackages` list (several expanded subpackages share it). */
  readonly sourceIndex: number;
  readonly rangeKey?: string;
}

/** A config after parse-time substitution, range expansion and defaults, as melange's ParseConfiguration leaves it. */
export interface ParsedConfig {
  readonly file: string;
  readonly text: string;
  readonly config: Omit<Configuration, 'subpackages'> & {
    readonly subpackages: readonly ExpandedSubpackage[];
  };
  /** Substitution keys known at parse time: `package.*`, `vars.*` (var-transforms included). */
  readonly vars: StrMap;
  readonly warnings: readonly Diagnostic[];
}

export interface ParseOptions {
  /** `--env-file` contents, lowest precedence first; the YAML's `environment.environment` wins. */
  readonly envFiles?: readonly StrMap[];
  /** `--vars-file`: merged over `vars`. */
  readonly vars?: StrMap;
  /** `--build-option`s: each one's `vars` are merged over `vars` (an unknown name is an error). */
  readonly buildOptions?: readonly string[];
}

const PACKAGE_NAME = /^[a-zA-Z\d][a-zA-Z\d+_.-]*$/;

/** Environment defaults melange sets when the config leaves them empty. */
const DEFAULT_BUILD_ENV: StrMap = {
  HOME: '/home/build',
  GOPATH: '/home/build/.cache/go',
  GOMODCACHE: '/var/cache/melange/gomodcache',
  UV_CACHE_DIR: '/var/cache/melange/uv',
  PIP_CACHE_DIR: '/var/cache/melange/pip',
  COMPOSER_CACHE_DIR: '/var/cache/melange/composer',
  npm_config_cache: '/var/cache/melange/npm',
};

/** Turns findings into located diagnostics; parses positions only when there are findings. */
export function locateFindings(text: string, file: string, findings: readonly Finding[]): Diagnostic[] {
  if (findings.length === 0) return [];
  const index = new PositionIndex(text);
  return findings.map((f) => {
    const { line, column } = index.locate(f.path, f.atKey);
    return { severity: f.severity, file, path: f.path, message: f.message, line, column };
  });
}

/** Loads YAML; a syntax error becomes a located ConfigError, as every other config problem is. */
export function loadYamlOrConfigError(text: string, file: string): ReturnType<typeof loadYaml> {
  checkConfigSize(text, file);
  try {
    return loadYaml(text, file);
  } catch (e) {
    if (!(e instanceof YamlSyntaxError)) throw e;
    throw new ConfigError(
      [
        {
          severity: 'error',
          file,
          path: [],
          message: `invalid YAML: ${e.reason}`,
          line: e.line,
          column: e.column,
        },
      ],
      { code: 'CONFIG_YAML', cause: e },
    );
  }
}

/** The first stages of every parse: YAML, schema, parse-time variables (var-transforms included). */
interface Decoded {
  readonly text: string;
  readonly file: string;
  readonly cfg: Configuration;
  readonly base: Record<string, string>;
  readonly findings: Finding[];
}

// Plain functions rather than closures made per parse: run from sources (tsx, which names every
// closure it sees with `Object.defineProperty`), two closures per config cost ~90 ms of a cold
// Wolfi scan.
/** The findings so far as a located {@link ConfigError}. */
function failure(
  text: string,
  file: string,
  findings: readonly Finding[],
  code?: ConfigErrorCode,
  cause?: unknown,
): ConfigError {
  // Without an explicit code, the first error's own (CONFIG_VERSION, …), else CONFIG_INVALID.
  const own = findings.find(isError)?.code;
  return new ConfigError(locateFindings(text, file, findings), {
    code: code ?? own ?? 'CONFIG_INVALID',
    cause,
  });
}

const hasError = (findings: readonly Finding[]): boolean => findings.some(isError);
const isError = (f: Finding): boolean => f.severity === 'error';

function pushError(findings: Finding[], path: YamlPath, message: string): void {
  findings.push({ severity: 'error', path, message });
}

function decodeConfig(text: string, file: string, options: ParseOptions, schema: Schema): Decoded {
  const raw = loadYamlOrConfigError(text, file);
  const findings: Finding[] = [];
  const decoded = decode(raw, schema, [], findings) as Configuration | undefined;
  if (decoded === undefined && !hasError(findings))
    pushError(findings, [], 'expected a mapping with a "package" section');
  if (!decoded || hasError(findings)) throw failure(text, file, findings);

  const cfg = decoded;
  const pkg = cfg.package;
  const epoch = pkg.epoch ?? 0;

  // Parse-time substitution map: package.*, vars.*, var-transforms (melange's buildConfigMap).
  const userVars: Record<string, string> = { ...(cfg.vars ?? {}), ...(options.vars ?? {}) };
  for (const name of options.buildOptions ?? []) {
    const opt = cfg.options?.[name];
    if (!opt) {
      const known = Object.keys(cfg.options ?? {});
      pushError(
        findings,
        ['options'],
        `build option "${name}" not found (${known.length ? `expected one of: ${known.join(', ')}` : 'the config defines none'})`,
      );
      throw failure(text, file, findings, 'CONFIG_BUILD_OPTION');
    }
    Object.assign(userVars, opt.vars ?? {});
  }
  let base: Record<string, string> = {
    'package.name': pkg.name,
    'package.version': pkg.version,
    'package.description': pkg.description ?? '',
    'package.epoch': String(epoch),
    'package.full-version': `${pkg.version}-r${epoch}`,
  };
  for (const [k, v] of Object.entries(userVars)) base[`vars.${k}`] = v;
  try {
    // Most configs have none: no copy of the variables then.
    if (cfg['var-transforms']?.length) base = applyVarTransforms(cfg['var-transforms'], base);
  } catch (e) {
    if (!(e instanceof VarTransformError)) throw e;
    pushError(findings, ['var-transforms', e.index, e.field], e.reason);
    throw failure(text, file, findings, 'CONFIG_VAR_TRANSFORM', e);
  }
  // Checked here, in both parses, so a scan rejects what the build would: `1.2/../x` or `1..2`
  // as a version ends up in file names and apk indexes.
  checkIdentity(cfg, findings);
  const version = substitute(pkg.version, base);
  if (!hasError(findings) && version !== '' && !isPackageVersion(version))
    findings.push({
      severity: 'error',
      path: ['package', 'version'],
      message: `package version "${version}" is not a valid apk version (digits{.digits}{letter}{_suffix{N}}{~hash}, such as 1.2.3, 2.0_rc1 or 1.0a; no -rN, which comes from the epoch)`,
      code: 'CONFIG_VERSION',
    });
  return { text, file, cfg, base, findings };
}

/**
 * A `${{` with no `}}` after it is never a variable (melange keeps it as text). In the fields
 * that name what is built it is a mistake that would reach file names, so an error there; the
 * Wolfi corpus has one in a description, which stays text.
 */
function checkIdentity(cfg: Configuration, findings: Finding[]): void {
  const fields: [YamlPath, string | undefined][] = [
    [['package', 'name'], cfg.package.name],
    [['package', 'version'], cfg.package.version],
    ...(cfg.subpackages ?? []).map((sp, i): [YamlPath, string] => [['subpackages', i, 'name'], sp.name]),
  ];
  for (const [path, v] of fields) {
    if (v === undefined || !v.includes('${{') || v.indexOf('}}', v.lastIndexOf('${{')) >= 0) continue;
    findings.push({
      severity: 'error',
      path,
      message: `unterminated "\${{" in "${v}" (a variable ends with "}}")`,
      code: 'CONFIG_UNTERMINATED_VARIABLE',
    });
  }
}

/** `range` expansion: each subpackage once, or once per item of its data range (keys sorted). */
function expandSubpackages<T>(
  { cfg, base, findings }: Decoded,
  expandOne: (sp: Subpackage, vars: StrMap, sourceIndex: number, rangeKey?: string) => T,
): T[] {
  const out: T[] = [];
  const data = new Map<string, StrMap>();
  for (const d of cfg.data ?? []) data.set(d.name, d.items ?? {});
  (cfg.subpackages ?? []).forEach((sp, i) => {
    if (sp.range === undefined || sp.range === '') {
      out.push(expandOne(sp, base, i));
      return;
    }
    const items = data.get(sp.range);
    if (!items) {
      findings.push({
        severity: 'error',
        path: ['subpackages', i, 'range'],
        message: `undefined range "${sp.range}" (expected the name of a data entry${data.size ? `: ${[...data.keys()].join(', ')}` : '; there are none'})`,
      });
      return;
    }
    for (const key of Object.keys(items).sort()) {
      // Over `base` by inheritance (substitution looks up the prototype chain): no copy per item.
      const vars: Record<string, string> = Object.create(base);
      vars['range.key'] = key;
      vars['range.value'] = items[key]!;
      out.push(expandOne(sp, vars, i, key));
    }
  });
  return out;
}

/**
 * Parses and validates one melange config. Throws {@link ConfigError} (every error, located)
 * when it cannot be built; warnings (unknown keys) come back with the result.
 */
export function parseConfig(text: string, file: string, options: ParseOptions = {}): ParsedConfig {
  const d = decodeConfig(text, file, options, configSchema);
  const { cfg, base, findings } = d;
  const config = {
    ...cfg,
    package: substitutePackage(cfg.package, base),
    pipeline: cfg.pipeline?.map((p) => substitutePipeline(p, base)),
    environment: withBuildAccount(substituteEnvironment(cfg.environment, base)),
    test: substituteTest(cfg.test, base),
    subpackages: expandSubpackages(
      d,
      (sp, vars, sourceIndex, rangeKey): ExpandedSubpackage => ({
        ...substituteSubpackage(sp, vars),
        sourceIndex,
        ...(rangeKey !== undefined ? { rangeKey } : {}),
      }),
    ),
  };

  // Environment: --env-file under the YAML, then melange's defaults where still empty.
  const env: Record<string, string> = {};
  for (const f of options.envFiles ?? []) Object.assign(env, f);
  Object.assign(env, config.environment.environment ?? {});
  for (const [k, v] of Object.entries(DEFAULT_BUILD_ENV)) if (!env[k]) env[k] = v;
  config.environment = { ...config.environment, environment: env };

  validate(config, findings);
  if (hasError(findings)) throw failure(text, file, findings);

  return {
    file,
    text,
    config,
    vars: base,
    warnings: locateFindings(text, file, findings),
  };
}

/**
 * A config as a build graph sees it ({@link GraphConfig}, what `graphConfig(parseConfig(…))`
 * gives), cheaper than {@link parseConfig}: the same YAML, schema,
 * variables, var-transforms and ranges, but only the package, its dependencies, environment
 * packages and pipelines are substituted, and nothing is validated beyond the schema (a config
 * the build rejects still has a place in the graph). Throws {@link ConfigError}.
 */
export function parseGraphConfig(text: string, file: string): GraphConfig {
  const d = decodeConfig(text, file, {}, graphConfigSchema);
  const { cfg, base, findings } = d;
  const pkg = cfg.package;
  const packages = cfg.environment?.contents?.packages;
  // Only what toGraphConfig reads, substituted: no copy of the rest of the config.
  const config: GraphSource['config'] = {
    package: {
      name: substitute(pkg.name, base),
      version: substitute(pkg.version, base),
      ...(pkg.epoch !== undefined ? { epoch: pkg.epoch } : {}),
      ...(pkg.description !== undefined ? { description: substitute(pkg.description, base) } : {}),
      ...(pkg['target-architecture']
        ? { 'target-architecture': sList(pkg['target-architecture'], base) }
        : {}),
      ...(pkg.resources ? { resources: pkg.resources } : {}),
      ...(pkg.dependencies ? { dependencies: graphDeps(pkg.dependencies, base) } : {}),
    },
    ...(cfg.update !== undefined ? { update: cfg.update } : {}),
    ...(cfg.options !== undefined ? { options: cfg.options } : {}),
    environment: packages ? { contents: { packages: sList(packages, base)! } } : {},
    pipeline: graphSteps(cfg.pipeline ?? [], base),
    subpackages: expandSubpackages(d, (sp, vars) => {
      const out: {
        -readonly [K in keyof GraphSource['config']['subpackages'][number]]: GraphSource['config']['subpackages'][number][K];
      } = {
        name: substitute(sp.name, vars),
      };
      if (sp.if !== undefined) out.if = substituteCondition(sp.if, vars);
      if (sp.pipeline) out.pipeline = graphSteps(sp.pipeline, vars);
      if (sp.dependencies) out.dependencies = graphDeps(sp.dependencies, vars);
      return out;
    }),
  };
  if (hasError(findings)) throw failure(text, file, findings);
  // Steps were reduced (and substituted) above.
  return toGraphConfig({ file, config, vars: base }, (ps) => ps as readonly GraphStep[]);
}

/** The dependency fields the graph reads (`provides`, `runtime`, `provider-priority`), substituted. */
function graphDeps(
  d: Dependencies,
  vars: StrMap,
): Pick<Dependencies, 'provides' | 'runtime' | 'provider-priority'> {
  const p = d['provider-priority'];
  return {
    ...(d.provides ? { provides: sList(d.provides, vars)! } : {}),
    ...(d.runtime ? { runtime: sList(d.runtime, vars)! } : {}),
    ...(p !== undefined ? { 'provider-priority': substitute(p, vars) } : {}),
  };
}

function validate(config: ParsedConfig['config'], findings: Finding[]): void {
  const err = (path: YamlPath, message: string) => findings.push({ severity: 'error', path, message });
  const pkg = config.package;
  if (!PACKAGE_NAME.test(pkg.name))
    err(['package', 'name'], `package name "${pkg.name}" must match ${PACKAGE_NAME.source}`);
  if (pkg.version === '') err(['package', 'version'], 'package version must not be empty');
  checkDependencies(pkg.dependencies, ['package', 'dependencies'], findings);
  checkStrict(config.environment?.contents?.packages, ['environment', 'contents', 'packages'], findings);
  checkStrict(
    config.test?.environment?.contents?.packages,
    ['test', 'environment', 'contents', 'packages'],
    findings,
  );
  checkPipelines(config.pipeline ?? [], ['pipeline'], findings);
  checkPipelines(config.test?.pipeline ?? [], ['test', 'pipeline'], findings);
  checkSetcap(pkg.setcap, ['package', 'setcap'], findings);

  const seen = new Map<string, number>([[pkg.name, -1]]);
  for (const sp of config.subpackages) {
    const at: YamlPath = ['subpackages', sp.sourceIndex];
    const prev = seen.get(sp.name);
    if (prev !== undefined)
      err(
        [...at, 'name'],
        prev === -1
          ? `subpackage "${sp.name}" has the same name as the main package`
          : `duplicate subpackage name "${sp.name}" (also subpackages[${prev}])`,
      );
    seen.set(sp.name, sp.sourceIndex);
    if (!PACKAGE_NAME.test(sp.name))
      err([...at, 'name'], `subpackage name "${sp.name}" must match ${PACKAGE_NAME.source}`);
    checkDependencies(sp.dependencies, [...at, 'dependencies'], findings);
    checkStrict(
      sp.test?.environment?.contents?.packages,
      [...at, 'test', 'environment', 'contents', 'packages'],
      findings,
    );
    checkPipelines(sp.pipeline ?? [], [...at, 'pipeline'], findings);
    checkPipelines(sp.test?.pipeline ?? [], [...at, 'test', 'pipeline'], findings);
    checkSetcap(sp.setcap, [...at, 'setcap'], findings);
  }
}

/** Fields melange substitutes strictly after parsing: a leftover `${{…}}` names an unknown variable. */
function checkStrict(values: readonly string[] | undefined, path: YamlPath, findings: Finding[]): void {
  values?.forEach((v, i) => {
    for (const key of referencedKeys(v))
      findings.push({
        severity: 'error',
        path: [...path, i],
        message: `variable ${key} not defined in "${v}"`,
      });
  });
}

function checkDependencies(deps: Dependencies | undefined, path: YamlPath, findings: Finding[]): void {
  if (!deps) return;
  checkStrict(deps.runtime, [...path, 'runtime'], findings);
  checkStrict(deps.provides, [...path, 'provides'], findings);
  checkStrict(deps.replaces, [...path, 'replaces'], findings);
  for (const f of ['provider-priority', 'replaces-priority'] as const) {
    const v = deps[f];
    if (v !== undefined && v !== '' && !/^[-+]?\d+$/.test(v))
      findings.push({ severity: 'error', path: [...path, f], message: `expected an integer, got "${v}"` });
  }
}

function checkSetcap(setcap: Package['setcap'], path: YamlPath, findings: Finding[]): void {
  setcap?.forEach((c, i) => {
    if (!c.reason)
      findings.push({ severity: 'error', path: [...path, i, 'reason'], message: 'setcap needs a reason' });
  });
}

export function checkPipelines(ps: readonly Pipeline[], path: YamlPath, findings: Finding[]): void {
  ps.forEach((p, i) => {
    const at = [...path, i];
    if (p.uses !== undefined && p.runs !== undefined)
      findings.push({
        severity: 'error',
        path: [...at, 'runs'],
        message: `a step cannot have both uses (${p.uses}) and runs`,
      });
    if (p.with !== undefined && p.uses === undefined)
      findings.push({
        severity: 'error',
        path: [...at, 'with'],
        message: 'with: needs uses: (it passes inputs to a pipeline)',
      });
    if (p.uses !== undefined && p.pipeline !== undefined && p.pipeline.length > 0)
      findings.push({
        severity: 'warning',
        path: at,
        message: 'a step with both uses and pipeline: the pipeline wins',
      });
    if (p.pipeline) checkPipelines(p.pipeline, [...at, 'pipeline'], findings);
  });
}
