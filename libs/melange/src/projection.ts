/**
 * The needs/provides projection: what a build graph needs from a config, derived from the same
 * parse, scope, conditions and pipeline resolution as the compile, so the graph counts exactly
 * the packages the build environment will hold.
 *
 * A {@link GraphConfig} is the parsed config reduced to those fields (arch-independent and
 * JSON-safe, so a repository scan can cache it); {@link configNeeds} evaluates it for one arch.
 */
import { type ArchInfo, archInfo } from './arch.js';
import { ConditionError, evaluateCondition } from './cond.js';
import { ExpansionBudget, type PipelineLimit } from './limits.js';
import type { ParsedConfig } from './parse.js';
import { configScope, subpackageScope, inheritScope } from './scope.js';
import { lookupVariable, substitute, substituteCondition } from './substitute.js';
import type { Configuration, Dependencies, Input, Package, Pipeline, StrMap } from './types.js';

/** A pipeline step reduced to what needs resolution reads (no `runs`). */
export interface GraphStep {
  readonly if?: string;
  readonly uses?: string;
  readonly with?: StrMap;
  readonly inputs?: Readonly<Record<string, Input>>;
  readonly needs?: { readonly packages?: readonly string[] };
  readonly pipeline?: readonly GraphStep[];
}

interface GraphSubpackage {
  readonly name: string;
  readonly if?: string;
  readonly provides: readonly string[];
  /** `dependencies.runtime`: what installing this package brings into an environment. */
  readonly runtime: readonly string[];
  readonly providerPriority?: string;
  readonly pipeline: readonly GraphStep[];
}

/** A config as the build graph sees it: parse-time substitution and range expansion done. */
export interface GraphConfig {
  readonly file: string;
  readonly name: string;
  readonly version: string;
  readonly epoch: number;
  readonly description?: string;
  readonly targetArchitecture: readonly string[];
  readonly resources: { readonly cpu?: string; readonly memory?: string };
  readonly updateShared: boolean;
  /** `vars.*` after var-transforms. */
  readonly vars: StrMap;
  readonly options: readonly string[];
  /** `environment.contents.packages`. */
  readonly packages: readonly string[];
  readonly provides: readonly string[];
  /** The main package's `dependencies.runtime`. */
  readonly runtime: readonly string[];
  readonly providerPriority?: string;
  readonly pipeline: readonly GraphStep[];
  readonly subpackages: readonly GraphSubpackage[];
}

/**
 * Keeps the fields of a step that needs resolution reads, substituted with `vars` when given (as
 * the parse substitutes them: `if:` as a condition, `with:` and `needs` as text). Steps that can
 * contribute nothing (no `uses:`, no `needs`, no such children: a plain `runs`) are dropped
 * from `pipeline` lists.
 */
export function graphStep(p: Pipeline | GraphStep, vars?: StrMap): GraphStep {
  const s: {
    -readonly [K in keyof GraphStep]: GraphStep[K];
  } = {};
  const children = p.pipeline ? graphSteps(p.pipeline, vars) : NONE;
  const needs = p.needs?.packages ?? NONE;
  // A step with both `uses` and a `pipeline` runs its pipeline (as the compile does).
  const uses = p.pipeline && p.pipeline.length > 0 ? undefined : p.uses;
  if (uses === undefined && needs.length === 0 && children.length === 0 && p.inputs === undefined) return s;
  if (p.if !== undefined) s.if = vars ? substituteCondition(p.if, vars) : p.if;
  if (uses !== undefined) s.uses = uses;
  if (p.with !== undefined) {
    if (vars) {
      const w: Record<string, string> = {};
      for (const k in p.with) w[k] = substitute(p.with[k]!, vars);
      s.with = w;
    } else s.with = p.with;
  }
  if (p.inputs !== undefined) s.inputs = p.inputs;
  if (needs.length > 0) s.needs = { packages: vars ? needs.map((n) => substitute(n, vars)) : needs };
  if (children.length > 0) s.pipeline = children;
  return s;
}

// Shared by every step without children or needs (most of them): not an array each.
const NONE: readonly never[] = Object.freeze([]);

/** The steps of a list that can contribute needs (substituted with `vars` when given). */
export function graphSteps(ps: readonly (Pipeline | GraphStep)[], vars?: StrMap): GraphStep[] {
  const out: GraphStep[] = [];
  for (const p of ps) {
    const g = graphStep(p, vars);
    if (g.uses !== undefined || g.needs !== undefined || g.pipeline !== undefined) out.push(g);
  }
  return out;
}

/** The graph's view of a fully parsed config. */
export function graphConfig(parsed: ParsedConfig): GraphConfig {
  return toGraphConfig(parsed, graphSteps);
}

type GraphDependencies = Pick<Dependencies, 'provides' | 'runtime' | 'provider-priority'>;

/**
 * The fields of a parsed config that {@link toGraphConfig} reads: a full parse has them all, the
 * graph parse builds only these (substituted) and nothing else.
 */
export interface GraphSource {
  readonly file: string;
  readonly vars: StrMap;
  readonly config: {
    readonly package: Pick<
      Package,
      'name' | 'version' | 'description' | 'target-architecture' | 'resources'
    > & {
      readonly epoch?: number;
      readonly dependencies?: GraphDependencies;
    };
    readonly update?: Configuration['update'];
    readonly options?: Readonly<Record<string, unknown>>;
    readonly environment?: { readonly contents?: { readonly packages?: readonly string[] } };
    readonly pipeline?: readonly (Pipeline | GraphStep)[];
    readonly subpackages: readonly {
      readonly name: string;
      readonly if?: string;
      readonly dependencies?: GraphDependencies;
      readonly pipeline?: readonly (Pipeline | GraphStep)[];
    }[];
  };
}

/** `steps` turns a step list into graph steps (the graph parse has reduced them already). */
export function toGraphConfig(
  parsed: GraphSource,
  steps: (ps: readonly (Pipeline | GraphStep)[]) => readonly GraphStep[],
): GraphConfig {
  const { config } = parsed;
  const pkg = config.package;
  const vars: Record<string, string> = {};
  for (const k in parsed.vars) if (k.startsWith('vars.')) vars[k] = parsed.vars[k]!;
  const res = pkg.resources ?? {};
  const priority = pkg.dependencies?.['provider-priority'];
  return {
    file: parsed.file,
    name: pkg.name,
    version: pkg.version,
    epoch: pkg.epoch ?? 0,
    ...(pkg.description !== undefined ? { description: pkg.description } : {}),
    targetArchitecture: pkg['target-architecture'] ?? [],
    resources: {
      ...(res.cpu !== undefined ? { cpu: res.cpu } : {}),
      ...(res.memory !== undefined ? { memory: res.memory } : {}),
    },
    updateShared: String(config.update?.['shared']) === 'true',
    vars,
    options: Object.keys(config.options ?? {}),
    packages: config.environment?.contents?.packages ?? [],
    provides: pkg.dependencies?.provides ?? [],
    runtime: pkg.dependencies?.runtime ?? [],
    ...(priority !== undefined ? { providerPriority: priority } : {}),
    pipeline: steps(config.pipeline ?? []),
    subpackages: config.subpackages.map((sp) => {
      const p = sp.dependencies?.['provider-priority'];
      return {
        name: sp.name,
        ...(sp.if !== undefined && sp.if !== '' ? { if: sp.if } : {}),
        provides: sp.dependencies?.provides ?? [],
        runtime: sp.dependencies?.runtime ?? [],
        ...(p !== undefined ? { providerPriority: p } : {}),
        pipeline: steps(sp.pipeline ?? []),
      };
    }),
  };
}

/** `target-architecture` admits `arch` (empty or `all` admit every arch). */
export function buildsFor(targetArchitecture: readonly string[], arch: string): boolean {
  return (
    targetArchitecture.length === 0 ||
    targetArchitecture.includes('all') ||
    targetArchitecture.includes(archInfo(arch).apk)
  );
}

/** A `uses:` name → its definition (repository `pipelines/` first, then the built-ins). */
export type PipelineLookup = (uses: string) => GraphStep | undefined;

interface PipelineNeed {
  /** The `uses:` name whose definition (or the inline step, when empty) declared the needs. */
  readonly uses: string;
  readonly packages: readonly string[];
}

export interface ConfigNeeds {
  /** The packages that get built: the main package and every subpackage whose `if:` holds. */
  readonly packages: readonly {
    readonly name: string;
    readonly provides: readonly string[];
    /** Its `dependencies.runtime` (what an environment installing it also gets). */
    readonly runtime: readonly string[];
    readonly providerPriority?: string;
  }[];
  /** `environment.contents.packages`. */
  readonly environment: readonly string[];
  /** `needs.packages` of every step that runs, in order (subpackages included even when skipped, as melange does). */
  readonly pipelineNeeds: readonly PipelineNeed[];
  /** Every `uses:` name that resolved, sorted. */
  readonly uses: readonly string[];
  /** `uses:` names that resolved to nothing. */
  readonly unknown: readonly string[];
  /** What could not be evaluated (a bad `if:`, a broken expansion limit); the step is kept. */
  readonly problems: readonly string[];
  /**
   * The `uses:` expansion limit the config broke (a cycle, too deep, too many steps), as the
   * compile reports it; the walk stopped there, so the needs are incomplete.
   */
  readonly limit?: PipelineLimit;
}

interface Walk {
  readonly lookup: PipelineLookup;
  readonly needs: PipelineNeed[];
  readonly uses: Set<string>;
  readonly unknown: Set<string>;
  readonly problems: string[];
  readonly budget: ExpansionBudget;
  limit?: PipelineLimit;
}

function holds(cond: string | undefined, scope: StrMap, w: Walk, where: string): boolean {
  if (cond === undefined || cond === '') return true;
  try {
    return evaluateCondition(cond, (n) => lookupVariable(scope, n));
  } catch (e) {
    if (!(e instanceof ConditionError)) throw e;
    w.problems.push(`${where}: cannot evaluate if: ${e.message}`);
    return true;
  }
}

/** One step as the compile walks it: definition over the step, inputs, `if:`, needs, children. */
function walkStep(
  node: GraphStep,
  parentOf: () => StrMap,
  chain: readonly string[],
  w: Walk,
  depth: number,
): void {
  if (w.limit) return;
  const expands = node.uses !== undefined && node.pipeline === undefined;
  const limit = w.budget.enter(chain, expands ? node.uses : undefined, depth);
  if (limit) {
    w.limit = limit;
    w.problems.push(`${limit.code}: ${limit.message}`);
    return;
  }
  let via = chain.at(-1) ?? '';
  // As the compile decodes a definition over the step: the definition's fields win.
  let def: GraphStep | undefined;
  if (expands && node.uses !== undefined) {
    def = w.lookup(node.uses);
    if (!def) {
      w.unknown.add(node.uses);
      return;
    }
    w.uses.add(node.uses);
    via = node.uses;
    chain = [...chain, via];
  }
  const cond = def && 'if' in def ? def.if : node.if;
  const needs = (def && 'needs' in def ? def.needs : node.needs)?.packages ?? NONE;
  const children = (def ? def.pipeline : node.pipeline) ?? NONE;
  if (cond === undefined && needs.length === 0 && children.length === 0) return;
  const inputs = (def ? def.inputs : node.inputs) ?? {};
  const userWith = node.with ?? {};
  const parent = parentOf();
  let scope = parent;
  const keys = new Set([...Object.keys(userWith), ...Object.keys(inputs)]);
  if (keys.size > 0) {
    const own = inheritScope(parent);
    for (const k of keys) own[`inputs.${k}`] = substitute(userWith[k] || inputs[k]?.default || '', parent);
    for (const k of keys) own[`inputs.${k}`] = substitute(own[`inputs.${k}`]!, own);
    scope = own;
  }
  if (!holds(cond, scope, w, via === '' ? 'pipeline' : `uses: ${via}`)) return;
  if (needs.length > 0) w.needs.push({ uses: via, packages: needs.map((n) => substitute(n, scope)) });
  for (const child of children) walkStep(child, () => scope, chain, w, depth + 1);
}

/**
 * A config on one arch: the packages it builds (with their provides) and what its build
 * environment holds. The caller checks {@link buildsFor} first.
 */
export function configNeeds(g: GraphConfig, arch: string | ArchInfo, lookup: PipelineLookup): ConfigNeeds {
  // Built only when something reads it: most configs need no variable to find their needs.
  let scope: StrMap | undefined;
  const scopeOf = () =>
    (scope ??= configScope(
      {
        name: g.name,
        version: g.version,
        epoch: g.epoch,
        ...(g.description !== undefined ? { description: g.description } : {}),
        vars: g.vars,
        subpackages: g.subpackages.map((s) => s.name),
        options: g.options,
      },
      arch,
    ));
  const w: Walk = {
    lookup,
    needs: [],
    uses: new Set(),
    unknown: new Set(),
    problems: [],
    budget: new ExpansionBudget(),
  };
  for (const step of g.pipeline) walkStep(step, scopeOf, NONE, w, 0);
  const packages: ConfigNeeds['packages'][number][] = [
    {
      name: g.name,
      provides: g.provides,
      runtime: g.runtime,
      ...(g.providerPriority !== undefined ? { providerPriority: g.providerPriority } : {}),
    },
  ];
  for (const sp of g.subpackages) {
    let sub: StrMap | undefined;
    const subOf = () => (sub ??= subpackageScope(scopeOf(), sp.name));
    if (sp.if === undefined || holds(sp.if, subOf(), w, `subpackage ${sp.name}`))
      packages.push({
        name: sp.name,
        provides: sp.provides,
        runtime: sp.runtime,
        ...(sp.providerPriority !== undefined ? { providerPriority: sp.providerPriority } : {}),
      });
    // melange gathers a subpackage's needs whether or not its `if:` holds; only its steps are skipped.
    for (const step of sp.pipeline) walkStep(step, subOf, NONE, w, 0);
  }
  return {
    packages,
    environment: g.packages,
    pipelineNeeds: w.needs,
    uses: [...w.uses].sort(),
    unknown: [...w.unknown].sort(),
    problems: w.problems,
    ...(w.limit ? { limit: w.limit } : {}),
  };
}

/** Everything the build environment installs, as the compile lists it: environment first, deduplicated. */
export function environmentPackages(n: ConfigNeeds): string[] {
  return [...new Set([...n.environment, ...n.pipelineNeeds.flatMap((p) => p.packages)])];
}
