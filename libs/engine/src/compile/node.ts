/**
 * One pipeline step and its children, compiled as melange does: `uses:` expanded (the
 * definition decoded over the step), inputs validated and defaulted, `${{…}}` resolved strictly,
 * `if:` evaluated, working directory and environment inherited, `needs.packages` hoisted.
 */
import {
  ConditionError,
  ConfigError,
  evaluateCondition,
  type Input,
  InvalidUsesError,
  inheritScope,
  lookupVariable,
  type Pipeline,
  type PipelineDefinition,
  PipelineNotFoundError,
  type StrMap,
  substitute,
  substituteStrict,
  UnknownVariableError,
  WORKSPACE,
  type YamlPath,
} from '@melange2/melange';
import { type Ctx, describeAt, diag, type Fail, type Loc, type NodeState, StepFailure } from './context.js';

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

/** Reports at the config step the user wrote; mentions the pipeline file when it is elsewhere. */
function failer(loc: Loc, ctx: Ctx): Fail {
  return (path, message, needle) => {
    const where = loc.file === ctx.root.file ? '' : ` (in ${loc.file})`;
    const d =
      loc.file === ctx.root.file
        ? diag(loc, [...loc.path, ...path], message, 'error', needle)
        : diag(ctx.root, ctx.root.path, `${message}${where}${describeAt(loc, path, needle)}`);
    ctx.errors.push(d);
    throw new StepFailure(message);
  };
}

/** A step with its `uses:` definition applied: what it runs, where that text lives, its inputs. */
interface Expanded {
  readonly p: Pipeline;
  readonly def?: PipelineDefinition;
  readonly defLoc: Loc;
  readonly inputs: Readonly<Record<string, Input>>;
}

function resolveUses(uses: string, ctx: Ctx, fail: Fail): PipelineDefinition {
  try {
    return ctx.resolver.resolve(uses);
  } catch (e) {
    if (e instanceof PipelineNotFoundError)
      fail(['uses'], `unknown pipeline "${uses}" (searched: ${e.searched.join(', ')})`);
    if (e instanceof InvalidUsesError) fail(['uses'], e.message);
    if (e instanceof ConfigError) {
      ctx.errors.push(...e.diagnostics.filter((d) => d.severity === 'error'));
      fail(['uses'], `pipeline "${uses}" is invalid: ${e.message}`);
    }
    throw e;
  }
}

/** Expands `uses:` (unless the step has its own `pipeline`); checks `with:` against the inputs. */
function expand(node: Pipeline, loc: Loc, ctx: Ctx, fail: Fail): Expanded {
  if (node.uses === undefined || (node.pipeline && node.pipeline.length > 0))
    return { p: node, defLoc: loc, inputs: node.inputs ?? {} };
  const def = resolveUses(node.uses, ctx, fail);
  for (const w of def.warnings) {
    const key = `${w.file}:${w.line}:${w.column}:${w.message}`;
    if (!ctx.seenWarnings.has(key)) {
      ctx.seenWarnings.add(key);
      ctx.warnings.push(w);
    }
  }
  const userWith = node.with ?? {};
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
  return {
    p: { ...node, ...def.pipeline, name: node.name, with: userWith, ...environment },
    def,
    defLoc: { file: def.file, path: [], text: def.text },
    inputs: definedInputs,
  };
}

/** The step's input values: its `with`, defaults for the rest; required ones present, digests well-formed. */
function inputValues(
  node: Pipeline,
  inputs: Readonly<Record<string, Input>>,
  fail: Fail,
): Record<string, string> {
  const userWith = node.with ?? {};
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
  return given;
}

/** Substitutes text of the step strictly: an unknown variable is an error located in its file. */
type Strict = (text: string, path: YamlPath, at?: Loc) => string;

/** The step's scope (`inputs.*` over the parent's) and its strict substitution. */
function stepScope(
  given: Readonly<Record<string, string>>,
  parent: StrMap,
  loc: Loc,
  x: Expanded,
  fail: Fail,
): { scope: StrMap; strict: Strict } {
  // A scope inherits its parent's variables through the prototype chain: copying ~50 keys per
  // node was the largest cost of compiling a whole repository.
  const scope = inheritScope(parent);
  const keys: string[] = [];
  for (const [k, v] of Object.entries(given)) {
    scope[`inputs.${k}`] = substitute(v, parent);
    keys.push(`inputs.${k}`);
  }
  const strict: Strict = (text, path, at = x.defLoc) => {
    try {
      return substituteStrict(text, scope);
    } catch (e) {
      if (e instanceof UnknownVariableError) {
        const needle = `\${{${e.key}`;
        if (at === x.defLoc && x.def)
          fail([], `variable ${e.key} not defined${describeAt(at, path, needle)}`);
        fail(path, `variable ${e.key} not defined`, needle);
      }
      throw e;
    }
  };
  for (const k of keys) scope[k] = strict(scope[k]!, ['with', k.slice('inputs.'.length)], loc);
  return { scope, strict };
}

function conditionHolds(p: Pipeline, scope: StrMap, fail: Fail): boolean {
  if (p.if === undefined || p.if === '') return true;
  try {
    return evaluateCondition(p.if, (name) => lookupVariable(scope, name));
  } catch (e) {
    if (e instanceof ConditionError) fail(['if'], `cannot evaluate if: ${e.message}`);
    throw e;
  }
}

/** Compiles one pipeline node and its children; returns whether it ran (its `if:` held). */
function compileNode(node: Pipeline, loc: Loc, parent: NodeState, ctx: Ctx): boolean {
  const fail = failer(loc, ctx);
  // Checked before expanding: a cycle or a fan-out stops here, not in a stack overflow or OOM.
  const expands = node.uses !== undefined && !(node.pipeline && node.pipeline.length > 0);
  const limit = ctx.budget.enter(parent.uses, expands ? node.uses : undefined, parent.depth);
  if (limit) {
    const at = diag(ctx.root, ctx.root.path, limit.message);
    throw new ConfigError([at, ...ctx.errors], { code: limit.code });
  }
  const x = expand(node, loc, ctx, fail);
  const { p, def, defLoc } = x;
  const { scope, strict } = stepScope(inputValues(node, x.inputs, fail), parent.scope, loc, x, fail);
  if (!conditionHolds(p, scope, fail)) return false;
  if (ctx.sources && def && (node.uses === 'fetch' || node.uses === 'git-checkout')) {
    const inputs: Record<string, string> = {};
    for (const k of Object.keys(x.inputs)) inputs[k] = scope[`inputs.${k}`] ?? '';
    ctx.sources.push({ uses: node.uses, inputs });
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
  const state: NodeState = {
    scope,
    workdir,
    env,
    uses,
    depth: parent.depth + 1,
    ...(usesLabel !== undefined ? { usesLabel } : {}),
  };
  const childBase = def ? defLoc : loc;
  (p.pipeline ?? []).forEach((child, i) => {
    if (compileNode(child, { ...childBase, path: [...childBase.path, 'pipeline', i] }, state, ctx)) ran++;
  });
  const want = p.assertions?.['required-steps'];
  if (want !== undefined && want !== ran)
    fail(['assertions', 'required-steps'], `pipeline ran ${ran} steps, ${want} required`);
  return true;
}

/** Compiles a top-level pipeline list; a failed step is recorded and the list goes on. */
export function compilePipelines(
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
