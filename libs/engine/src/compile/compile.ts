/**
 * A parsed config → the plan for one architecture: the scope, the main pipeline, the
 * subpackages whose `if:` holds, the build environment and the `test:` pipelines.
 */
import {
  type ArchInfo,
  archInfo,
  buildsFor,
  ConditionError,
  type Configuration,
  ConfigError,
  ExpansionBudget,
  configScope,
  type Diagnostic,
  evaluateCondition,
  type ExpandedSubpackage,
  lookupVariable,
  type ParsedConfig,
  type StrMap,
  subpackageScope,
  type YamlPath,
} from '@melange2/melange';
import { type Ctx, diag, type Loc, topState } from './context.js';
import { compilePipelines } from './node.js';
import {
  type BuildPlan,
  type CompileOptions,
  DEFAULT_PATH,
  DEFAULT_SOURCE_DATE_EPOCH,
  NotForArchError,
  type PlanEnvironment,
  type PlanSource,
  type PlanStep,
  type PlanTest,
} from './plan.js';

/** What every pipeline list of one config shares. */
type Shared = Pick<Ctx, 'resolver' | 'errors' | 'warnings' | 'seenWarnings' | 'baseEnv' | 'budget'>;

/** The config's variables on `arch`, with the enabled build options. */
function planScope(parsed: ParsedConfig, arch: ArchInfo, buildOptions?: readonly string[]): StrMap {
  const { config } = parsed;
  const pkg = config.package;
  return configScope(
    {
      name: pkg.name,
      version: pkg.version,
      epoch: pkg.epoch ?? 0,
      ...(pkg.description !== undefined ? { description: pkg.description } : {}),
      vars: parsed.vars,
      subpackages: config.subpackages.map((s) => s.name),
      options: Object.keys(config.options ?? {}),
    },
    arch,
    buildOptions,
  );
}

/** `environment.contents.packages` with each enabled build option's removals and additions. */
function contentsPackages(config: Configuration, buildOptions: readonly string[] = []): string[] {
  let packages = [...(config.environment?.contents?.packages ?? [])];
  for (const opt of buildOptions) {
    const change = config.options?.[opt]?.environment?.contents?.packages;
    if (!change) continue;
    const remove = new Set(change.remove ?? []);
    packages = [...packages.filter((p) => !remove.has(p)), ...(change.add ?? [])];
  }
  return packages;
}

interface Subpackages {
  /** The main package, then each subpackage whose `if:` holds. */
  readonly enabled: string[];
  readonly skipped: string[];
  readonly scopes: Map<ExpandedSubpackage, StrMap>;
}

/** Compiles each subpackage's pipeline: its steps when its `if:` holds, its needs either way. */
function compileSubpackages(
  parsed: ParsedConfig,
  scope: StrMap,
  configLoc: Loc,
  shared: Shared,
  out: { readonly steps: PlanStep[]; readonly needs: string[]; readonly sources: PlanSource[] },
): Subpackages {
  const enabled: string[] = [parsed.config.package.name];
  const skipped: string[] = [];
  const scopes = new Map<ExpandedSubpackage, StrMap>();
  for (const sp of parsed.config.subpackages) {
    const subScope = subpackageScope(scope, sp.name);
    scopes.set(sp, subScope);
    const at: YamlPath = ['subpackages', sp.sourceIndex];
    let on = true;
    if (sp.if !== undefined && sp.if !== '') {
      try {
        on = evaluateCondition(sp.if, (n) => lookupVariable(subScope, n));
      } catch (e) {
        if (!(e instanceof ConditionError)) throw e;
        shared.errors.push(diag(configLoc, [...at, 'if'], `cannot evaluate if: ${e.message}`));
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
      needs: out.needs,
      ...(on ? { sources: out.sources } : {}),
    });
    if (on) {
      enabled.push(sp.name);
      out.steps.push(...subSteps);
    } else skipped.push(sp.name);
  }
  return { enabled, skipped, scopes };
}

/**
 * One `test:` section: its pipeline, and an environment holding the package under test. That
 * package is pinned to the version built, so that neither an older or newer build of it nor an
 * unversioned stand-in elsewhere is tested instead (melange pinned it so in 2024, PR #1518), unless
 * `byName`: a subpackage of the same config provides the name without a version (Wolfi's
 * multi-Python layout: the empty `py3-x` origin and `py3.11-x` providing `py3-x` with a
 * provider-priority). There the name is asked for bare, as melange does today (it dropped the pin
 * for this layout, #1579 and the revert of #1518), and the resolver installs the provider with the
 * highest provider-priority, as apko does; a pin would install the empty origin.
 */
function compileTest(
  name: string,
  t: NonNullable<ExpandedSubpackage['test']>,
  scope: StrMap,
  at: { readonly loc: Loc; readonly label: string },
  shared: Shared,
  byName: boolean,
): PlanTest {
  const steps: PlanStep[] = [];
  const needs: string[] = [];
  const baseEnv: Record<string, string> = { ...(t.environment?.environment ?? {}), PATH: DEFAULT_PATH };
  compilePipelines(t.pipeline ?? [], { ...at.loc, path: [...at.loc.path, 'pipeline'] }, topState(scope), {
    ...shared,
    baseEnv,
    context: name,
    label: at.label,
    steps,
    needs,
  });
  const c = t.environment?.contents ?? {};
  const version = scope['package.full-version'];
  const self = version && !byName ? `${name}=${version}` : name;
  return {
    package: name,
    environment: {
      packages: [...new Set([...(c.packages ?? []).filter((p) => p !== name), self, ...needs])].sort(),
      repositories: c.repositories ?? [],
      keyring: c.keyring ?? [],
      env: t.environment?.environment ?? {},
      users: t.environment?.accounts?.users ?? [],
      groups: t.environment?.accounts?.groups ?? [],
    },
    steps,
  };
}

/** The main package's test, then each enabled subpackage's. */
function compileTests(
  parsed: ParsedConfig,
  scope: StrMap,
  subpackages: Subpackages,
  configLoc: Loc,
  shared: Shared,
): PlanTest[] {
  const { config } = parsed;
  const at = (path: YamlPath, label: string) => ({ loc: { ...configLoc, path }, label });
  const tests: PlanTest[] = [];
  const enabled = config.subpackages.filter((sp) => subpackages.enabled.includes(sp.name));
  const virtual = (name: string) =>
    enabled.some((sp) => sp.name !== name && (sp.dependencies?.provides ?? []).includes(name));
  if (config.test) {
    const name = config.package.name;
    tests.push(compileTest(name, config.test, scope, at(['test'], 'test'), shared, virtual(name)));
  }
  for (const sp of enabled) {
    if (!sp.test) continue;
    const where = at(['subpackages', sp.sourceIndex, 'test'], `test ${sp.name}`);
    tests.push(compileTest(sp.name, sp.test, subpackages.scopes.get(sp)!, where, shared, virtual(sp.name)));
  }
  return tests;
}

/** The build environment: contents, then the hoisted needs, deduplicated. */
function planEnvironment(
  config: Configuration,
  packages: readonly string[],
  needs: readonly string[],
): PlanEnvironment {
  const contents = config.environment?.contents ?? {};
  const runAs = config.environment?.accounts?.['run-as'];
  return {
    packages: [...new Set([...packages, ...needs])],
    repositories: contents.repositories ?? [],
    keyring: contents.keyring ?? [],
    env: config.environment?.environment ?? {},
    users: config.environment?.accounts?.users ?? [],
    groups: config.environment?.accounts?.groups ?? [],
    ...(runAs !== undefined ? { runAs } : {}),
  };
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
  const scope = planScope(parsed, arch, options.buildOptions);
  const errors: Diagnostic[] = [];
  const warnings: Diagnostic[] = [...parsed.warnings];
  const shared: Shared = {
    resolver: options.resolver,
    errors,
    warnings,
    seenWarnings: new Set<string>(),
    budget: new ExpansionBudget(),
    baseEnv: { ...(config.environment?.environment ?? {}), PATH: DEFAULT_PATH },
  };
  const configLoc: Loc = { file, path: [], text };
  const steps: PlanStep[] = [];
  const needs: string[] = [];
  const sources: PlanSource[] = [];
  compilePipelines(config.pipeline ?? [], { ...configLoc, path: ['pipeline'] }, topState(scope), {
    ...shared,
    context: pkg.name,
    label: '',
    steps,
    needs,
    sources,
  });
  const subpackages = compileSubpackages(parsed, scope, configLoc, shared, { steps, needs, sources });
  const environment = planEnvironment(config, contentsPackages(config, options.buildOptions), needs);
  const tests = options.tests !== false ? compileTests(parsed, scope, subpackages, configLoc, shared) : [];

  if (errors.length > 0) throw new ConfigError([...errors, ...warnings]);
  return {
    file,
    arch: arch.apk,
    package: { name: pkg.name, version: pkg.version, epoch, fullVersion: `${pkg.version}-r${epoch}` },
    packages: subpackages.enabled,
    skippedSubpackages: subpackages.skipped,
    environment,
    steps,
    sources,
    tests,
    sourceDateEpoch: options.sourceDateEpoch ?? DEFAULT_SOURCE_DATE_EPOCH,
    warnings,
  };
}
