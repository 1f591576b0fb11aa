import {
  archInfo,
  buildsFor,
  ConditionError,
  configScope,
  ConfigError,
  type Diagnostic,
  evaluateCondition,
  type ExpandedSubpackage,
  type Group,
  type Input,
  InvalidUsesError,
  lookupVariable,
  type ParsedConfig,
  type Pipeline,
  type PipelineDefinition,
  PipelineNotFoundError,
  type PipelineResolver,
  PositionIndex,
  type StrMap,
  substitute,
  substituteStrict,
  subpackageScope,
  inheritScope,
  UnknownVariableError,
  WORKSPACE,
  type User,
  type YamlPath,
} from '@melange2/melange';

/** PATH melange sets for every step (it overrides the environment's own PATH). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin';
/**
 * SOURCE_DATE_EPOCH when the caller gives none: 1980-01-01, the earliest date zip-based formats
 * (Ruby gems, Python wheels, jars) accept, and a constant so compiled graphs are reproducible.
 */
const DEFAULT_SOURCE_DATE_EPOCH = 315532800;

/** Where a step comes from: the config step the user wrote, and the file/step that defines its script. */
export interface StepSource {
  readonly file: string;
  readonly path: YamlPath;
  readonly definedIn?: { readonly file: string; readonly path: YamlPath };
}

/** One shell step of a compiled build: one `/bin/sh -c` exec. */
export interface PlanStep {
  /** Display name: the step's `name:`, `uses: X`, or the first line of `runs`. */
  readonly name: string;
  /** The package whose `targets.contextdir` the step writes to. */
  readonly context: string;
  /** `uses:` chain from the config step inwards. */
  readonly uses: readonly string[];
  /** The substituted `runs` text. */
  readonly runs: string;
  /** Absolute working directory. */
  readonly workdir: string;
  /** Step environment: the build environment, PATH, the pipeline chain's `environment`. */
  readonly env: StrMap;
  readonly source: StepSource;
}

export interface PlanEnvironment {
  /** `environment.contents.packages` plus the hoisted `needs.packages` of every pipeline, deduplicated. */
  readonly packages: readonly string[];
  readonly repositories: readonly string[];
  readonly keyring: readonly string[];
  /** `environment.environment` with melange's defaults. */
  readonly env: StrMap;
  readonly users: readonly User[];
  readonly groups: readonly Group[];
  readonly runAs?: string;
}

export interface PlanTest {
  /** The package under test. */
  readonly package: string;
  readonly environment: PlanEnvironment;
  readonly steps: readonly PlanStep[];
}

/** A config compiled for one architecture: what the LLB graph (and the next stages) are made from. */
export interface BuildPlan {
  readonly file: string;
  readonly arch: string;
  readonly package: {
    readonly name: string;
    readonly version: string;
    readonly epoch: number;
    readonly fullVersion: string;
  };
  /** Output packages, main first: one `melange-out/<name>` directory each. */
  readonly packages: readonly string[];
  /** Subpackages whose `if:` is false for this arch. */
  readonly skippedSubpackages: readonly string[];
  readonly environment: PlanEnvironment;
  /** The main pipeline, then each subpackage's. */
  readonly steps: readonly PlanStep[];
  readonly tests: readonly PlanTest[];
  readonly sourceDateEpoch: number;
  readonly warnings: readonly Diagnostic[];
}

export interface CompileOptions {
  /** apk architecture (x86_64, aarch64) or Go name. */
  readonly arch: string;
  readonly resolver: PipelineResolver;
  /** `--build-option` names to enable. */
  readonly buildOptions?: readonly string[];
  readonly sourceDateEpoch?: number;
  /** Also compile `test:` pipelines (default true). */
  readonly tests?: boolean;
}

/** The config's `target-architecture` excludes the requested arch: not an error, nothing to build. */
export class NotForArchError extends Error {
  override readonly name = 'NotForArchError';
  constructor(
    readonly file: string,
    readonly arch: string,
    readonly targets: readonly string[],
  ) {
    super(`${file}: not built for ${arch} (target-architecture: ${targets.join(', ')})`);
  }
}

interface Loc {
  readonly file: string;
  readonly path: YamlPath;
  /** Text of `file`, for positions. */
  readonly text: string;
}

interface Ctx {
  readonly resolver: PipelineResolver;
  readonly root: Loc;
  readonly context: string;
  /** Prefix for step names (the subpackage). */
  readonly label: string;
  readonly steps: PlanStep[];
  readonly needs: string[];
  readonly errors: Diagnostic[];
  readonly warnings: Diagnostic[];
  readonly baseEnv: StrMap;
  readonly seenWarnings: Set<string>;
}

/** A finding located in its file (positions are computed only for reported findings). */
function diag(
  loc: Loc,
  path: YamlPath,
  message: string,
  severity: 'error' | 'warning' = 'error',
  needle?: string,
): Diagnostic {
  const { line, column } = positions(loc.text).locate(path, false, needle);
  return { severity, file: loc.file, path, message, line, column };
}

const positionCache = new WeakMap<object, PositionIndex>();
const textKeys = new Map<string, object>();
function positions(text: string): PositionIndex {
  // Texts are strings (not weak-mappable); key them by identity of a small holder per text.
  let key = textKeys.get(text);
  if (!key) {
    key = {};
    if (textKeys.size > 64) textKeys.clear();
    textKeys.set(text, key);
  }
  let idx = positionCache.get(key);
  if (!idx) {
    idx = new PositionIndex(text);
    positionCache.set(key, idx);
  }
  return idx;
}

class StepFailure extends Error {}

const SHA_LENGTHS: Readonly<Record<string, number>> = {
  'expected-sha256': 64,
  'expected-sha512': 128,
  'expected-commit': 40,
};

function joinWorkdir(wd: string | undefined): string {
  if (wd === undefined || wd === '') return WORKSPACE;
  const abs = wd.startsWith('/') ? wd : `${WORKSPACE}/${wd}`;
  // Clean like Go's filepath.Join: collapse "//", "/./", resolve "..", drop a trailing "/".
  const parts: string[] = [];
  for (const seg of abs.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return `/${parts.join('/')}`;
}

function firstLine(runs: string): string {
  for (const raw of runs.split('\n')) {
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) continue;
    return l.length > 72 ? `${l.slice(0, 69)}...` : l;
  }
  return 'runs';
}

interface NodeState {
  readonly scope: StrMap;
  readonly workdir: string | undefined;
  readonly env: StrMap;
  readonly uses: readonly string[];
  /** The label of the nearest `uses:` (for unnamed steps inside it). */
  readonly usesLabel?: string;
}

/** Compiles one pipeline node and its children; returns whether it ran (its `if:` held). */
function compileNode(node: Pipeline, loc: Loc, parent: NodeState, ctx: Ctx): boolean {
  const fail = (path: YamlPath, message: string, needle?: string): never => {
    const where = loc.file === ctx.root.file ? '' : ` (in ${loc.file})`;
    // Report at the config step the user wrote; mention the pipeline file when it is elsewhere.
    const d =
      loc.file === ctx.root.file
        ? diag(loc, [...loc.path, ...path], message, 'error', needle)
        : diag(ctx.root, ctx.root.path, `${message}${where}${describeAt(loc, path, needle)}`);
    ctx.errors.push(d);
    throw new StepFailure(message);
  };

  let p = node;
  let def: PipelineDefinition | undefined;
  let defLoc = loc;
  const userWith = node.with ?? {};
  let inputs: Readonly<Record<string, Input>> = node.inputs ?? {};
  if (node.uses !== undefined && !(node.pipeline && node.pipeline.length > 0)) {
    try {
      def = ctx.resolver.resolve(node.uses);
    } catch (e) {
      if (e instanceof PipelineNotFoundError)
        fail(['uses'], `unknown pipeline "${node.uses}" (searched: ${e.searched.join(', ')})`);
      if (e instanceof InvalidUsesError) fail(['uses'], e.message);
      if (e instanceof ConfigError) {
        ctx.errors.push(...e.diagnostics.filter((d) => d.severity === 'error'));
        fail(['uses'], `pipeline "${node.uses}" is invalid: ${e.message}`);
      }
      throw e;
    }
    for (const w of def.warnings) {
      const key = `${w.file}:${w.line}:${w.column}:${w.message}`;
      if (!ctx.seenWarnings.has(key)) {
        ctx.seenWarnings.add(key);
        ctx.warnings.push(w);
      }
    }
    const definedInputs = def.pipeline.inputs ?? {};
    for (const k of Object.keys(userWith)) {
      if (!Object.hasOwn(definedInputs, k)) {
        const known = Object.keys(definedInputs);
        fail(
          ['with', k],
          `undefined input "${k}" to pipeline "${node.uses}" (${known.length ? `expected one of: ${known.join(', ')}` : 'it takes no inputs'})`,
        );
      }
    }
    // As melange decodes the definition over the step: its fields win, the step keeps its name.
    // (A mapping decoded over an existing map adds to it, so `environment` merges.)
    const environment =
      node.environment || def.pipeline.environment
        ? { environment: { ...node.environment, ...def.pipeline.environment } }
        : {};
    p = { ...node, ...def.pipeline, name: node.name, with: userWith, ...environment };
    inputs = definedInputs;
    defLoc = { file: def.file, path: [], text: def.text };
  }

  // Inputs: the step's `with`, defaults for the rest, required ones present.
  const given: Record<string, string> = { ...userWith };
  for (const [k, spec] of Object.entries(inputs)) {
    if (!given[k]) given[k] = spec.default ?? '';
    const v = given[k]!;
    const len = SHA_LENGTHS[k];
    if (v !== '' && len !== undefined && !(v.length === len && /^[0-9a-fA-F]+$/.test(v)))
      fail(['with', k], `input "${k}" must be ${len} hexadecimal digits, got "${v}"`);
    if (spec.required && v === '')
      fail(
        Object.hasOwn(userWith, k) ? ['with', k] : node.uses !== undefined ? ['uses'] : [],
        `required input "${k}" for pipeline "${node.uses ?? node.name ?? 'pipeline'}" is missing`,
      );
  }
  // A scope inherits its parent's variables through the prototype chain: copying ~50 keys per
  // node was the largest cost of compiling a whole repository.
  const scope = inheritScope(parent.scope);
  const keys: string[] = [];
  for (const [k, v] of Object.entries(given)) {
    scope[`inputs.${k}`] = substitute(v, parent.scope);
    keys.push(`inputs.${k}`);
  }
  const strict = (text: string, path: YamlPath, at: Loc = defLoc): string => {
    try {
      return substituteStrict(text, scope);
    } catch (e) {
      if (e instanceof UnknownVariableError) {
        const needle = `\${{${e.key}`;
        if (at === defLoc && def) fail([], `variable ${e.key} not defined${describeAt(at, path, needle)}`);
        fail(path, `variable ${e.key} not defined`, needle);
      }
      throw e;
    }
  };
  for (const k of keys) scope[k] = strict(scope[k]!, ['with', k.slice('inputs.'.length)], loc);

  if (p.if !== undefined && p.if !== '') {
    let ok: boolean;
    try {
      ok = evaluateCondition(p.if, (name) => lookupVariable(scope, name));
    } catch (e) {
      if (e instanceof ConditionError) fail(['if'], `cannot evaluate if: ${e.message}`);
      throw e;
    }
    if (!ok) return false;
  }

  for (const [i, n] of (p.needs?.packages ?? []).entries())
    ctx.needs.push(strict(n, ['needs', 'packages', i]));

  const workdir =
    p['working-directory'] !== undefined && p['working-directory'] !== ''
      ? strict(
          p['working-directory'],
          ['working-directory'],
          node['working-directory'] !== undefined ? loc : defLoc,
        )
      : parent.workdir;
  const env: Record<string, string> = { ...parent.env };
  for (const [k, v] of Object.entries(p.environment ?? {})) env[k] = substitute(v, scope);

  const uses = node.uses !== undefined && def ? [...parent.uses, node.uses] : parent.uses;
  const usesLabel = node.name ?? (def ? `uses: ${node.uses}` : parent.usesLabel);
  const runs = p.runs !== undefined ? strict(p.runs, ['runs']) : '';
  if (runs.trim() !== '') {
    const name = node.name ?? usesLabel ?? firstLine(runs);
    ctx.steps.push({
      name: ctx.label ? `${ctx.label}: ${name}` : name,
      context: ctx.context,
      uses,
      runs,
      workdir: joinWorkdir(workdir),
      env: { ...ctx.baseEnv, ...env },
      source: {
        file: ctx.root.file,
        path: ctx.root.path,
        ...(defLoc.file !== ctx.root.file || loc.path !== ctx.root.path
          ? { definedIn: { file: defLoc.file, path: def ? defLoc.path : loc.path } }
          : {}),
      },
    });
  }

  let ran = 0;
  const state: NodeState = { scope, workdir, env, uses, ...(usesLabel !== undefined ? { usesLabel } : {}) };
  const childBase = def ? defLoc : loc;
  (p.pipeline ?? []).forEach((child, i) => {
    if (compileNode(child, { ...childBase, path: [...childBase.path, 'pipeline', i] }, state, ctx)) ran++;
  });
  const want = p.assertions?.['required-steps'];
  if (want !== undefined && want !== ran)
    fail(['assertions', 'required-steps'], `pipeline ran ${ran} steps, ${want} required`);
  return true;
}

function describeAt(loc: Loc, path: YamlPath, needle?: string): string {
  const full = [...loc.path, ...path];
  const { line, column } = positions(loc.text).locate(full, false, needle);
  return ` at ${loc.file}:${line}:${column}`;
}

function dedupe(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

function compilePipelines(
  pipelines: readonly Pipeline[],
  base: Loc,
  state: NodeState,
  ctx: Omit<Ctx, 'root'>,
): void {
  pipelines.forEach((p, i) => {
    const root = { ...base, path: [...base.path, i] };
    try {
      compileNode(p, root, state, { ...ctx, root });
    } catch (e) {
      if (!(e instanceof StepFailure)) throw e;
    }
  });
}

/**
 * Compiles a parsed config for one architecture, as melange's Compile does: `uses:` expanded,
 * inputs validated and defaulted, every `${{…}}` resolved (unknown ones are errors), `if:`
 * evaluated, working directories and environments inherited, `needs.packages` hoisted into the
 * build environment. Throws {@link ConfigError} with every error found, or
 * {@link NotForArchError}.
 */
export function compileConfig(parsed: ParsedConfig, options: CompileOptions): BuildPlan {
  const { config, file, text } = parsed;
  const arch = archInfo(options.arch);
  const targets = config.package['target-architecture'] ?? [];
  if (!buildsFor(targets, arch.apk)) throw new NotForArchError(file, arch.apk, targets);

  const pkg = config.package;
  const epoch = pkg.epoch ?? 0;
  const fullVersion = `${pkg.version}-r${epoch}`;
  const scope = configScope(
    {
      name: pkg.name,
      version: pkg.version,
      epoch,
      ...(pkg.description !== undefined ? { description: pkg.description } : {}),
      vars: parsed.vars,
      subpackages: config.subpackages.map((s) => s.name),
      options: Object.keys(config.options ?? {}),
    },
    arch,
    options.buildOptions,
  );

  const envContents = config.environment?.contents ?? {};
  let packages = [...(envContents.packages ?? [])];
  for (const opt of options.buildOptions ?? []) {
    const change = config.options?.[opt]?.environment?.contents?.packages;
    if (!change) continue;
    const remove = new Set(change.remove ?? []);
    packages = [...packages.filter((p) => !remove.has(p)), ...(change.add ?? [])];
  }
  const baseEnv: Record<string, string> = { ...(config.environment?.environment ?? {}), PATH: DEFAULT_PATH };

  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [...parsed.warnings];
  const seenWarnings = new Set<string>();
  const steps: PlanStep[] = [];
  const needs: string[] = [];
  const configLoc: Loc = { file, path: [], text };
  const shared = { resolver: options.resolver, errors, warnings, seenWarnings, baseEnv };
  const topState = (s: StrMap): NodeState => ({ scope: s, workdir: undefined, env: {}, uses: [] });

  compilePipelines(config.pipeline ?? [], { ...configLoc, path: ['pipeline'] }, topState(scope), {
    ...shared,
    context: pkg.name,
    label: '',
    steps,
    needs,
  });

  const enabled: string[] = [pkg.name];
  const skipped: string[] = [];
  const subScopes = new Map<ExpandedSubpackage, StrMap>();
  for (const sp of config.subpackages) {
    const subScope = subpackageScope(scope, sp.name);
    subScopes.set(sp, subScope);
    const at: YamlPath = ['subpackages', sp.sourceIndex];
    let on = true;
    if (sp.if !== undefined && sp.if !== '') {
      try {
        on = evaluateCondition(sp.if, (n) => lookupVariable(subScope, n));
      } catch (e) {
        if (!(e instanceof ConditionError)) throw e;
        errors.push(diag(configLoc, [...at, 'if'], `cannot evaluate if: ${e.message}`));
        continue;
      }
    }
    // melange gathers a subpackage's needs whether or not its `if:` holds; only its steps are skipped.
    const subSteps: PlanStep[] = [];
    compilePipelines(sp.pipeline ?? [], { ...configLoc, path: [...at, 'pipeline'] }, topState(subScope), {
      ...shared,
      context: sp.name,
      label: sp.name,
      steps: subSteps,
      needs,
    });
    if (on) {
      enabled.push(sp.name);
      steps.push(...subSteps);
    } else skipped.push(sp.name);
  }

  const users = config.environment?.accounts?.users ?? [];
  const groups = config.environment?.accounts?.groups ?? [];
  const runAs = config.environment?.accounts?.['run-as'];
  const environment: PlanEnvironment = {
    packages: dedupe([...packages, ...needs]),
    repositories: envContents.repositories ?? [],
    keyring: envContents.keyring ?? [],
    env: config.environment?.environment ?? {},
    users,
    groups,
    ...(runAs !== undefined ? { runAs } : {}),
  };

  const tests: PlanTest[] = [];
  if (options.tests !== false) {
    const testOf = (
      name: string,
      t: NonNullable<ExpandedSubpackage['test']>,
      s: StrMap,
      path: YamlPath,
      label: string,
    ): PlanTest => {
      const tSteps: PlanStep[] = [];
      const tNeeds: string[] = [];
      const tEnv: Record<string, string> = { ...(t.environment?.environment ?? {}), PATH: DEFAULT_PATH };
      compilePipelines(t.pipeline ?? [], { ...configLoc, path: [...path, 'pipeline'] }, topState(s), {
        ...shared,
        baseEnv: tEnv,
        context: name,
        label,
        steps: tSteps,
        needs: tNeeds,
      });
      const c = t.environment?.contents ?? {};
      return {
        package: name,
        environment: {
          packages: [...new Set([...(c.packages ?? []), name, ...tNeeds])].sort(),
          repositories: c.repositories ?? [],
          keyring: c.keyring ?? [],
          env: t.environment?.environment ?? {},
          users: t.environment?.accounts?.users ?? [],
          groups: t.environment?.accounts?.groups ?? [],
        },
        steps: tSteps,
      };
    };
    if (config.test) tests.push(testOf(pkg.name, config.test, scope, ['test'], 'test'));
    for (const sp of config.subpackages) {
      if (!sp.test || !enabled.includes(sp.name)) continue;
      tests.push(
        testOf(
          sp.name,
          sp.test,
          subScopes.get(sp)!,
          ['subpackages', sp.sourceIndex, 'test'],
          `test ${sp.name}`,
        ),
      );
    }
  }

  if (errors.length > 0) throw new ConfigError([...errors, ...warnings]);
  return {
    file,
    arch: arch.apk,
    package: { name: pkg.name, version: pkg.version, epoch, fullVersion },
    packages: enabled,
    skippedSubpackages: skipped,
    environment,
    steps,
    tests,
    sourceDateEpoch: options.sourceDateEpoch ?? DEFAULT_SOURCE_DATE_EPOCH,
    warnings,
  };
}
