/**
 * The state a pipeline walk shares: where a step is (file, YAML path, text for positions), what
 * it collects (steps, needs, findings), and how a finding is located and reported.
 */
import {
  type Diagnostic,
  type ExpansionBudget,
  type PipelineResolver,
  PositionIndex,
  type StrMap,
  type YamlPath,
} from '@melange2/melange';
import type { PlanSource, PlanStep } from './plan.js';

export interface Loc {
  readonly file: string;
  readonly path: YamlPath;
  /** Text of `file`, for positions. */
  readonly text: string;
}

export interface Ctx {
  readonly resolver: PipelineResolver;
  readonly root: Loc;
  readonly context: string;
  /** Prefix for step names (the subpackage). */
  readonly label: string;
  readonly steps: PlanStep[];
  readonly needs: string[];
  /** Where `fetch` and `git-checkout` steps are recorded (the build's pipelines, not tests). */
  readonly sources?: PlanSource[];
  readonly errors: Diagnostic[];
  readonly warnings: Diagnostic[];
  readonly baseEnv: StrMap;
  readonly seenWarnings: Set<string>;
  /** Steps expanded so far, across the config's package, subpackages and tests. */
  readonly budget: ExpansionBudget;
}

/** What a step inherits from the step around it. */
export interface NodeState {
  readonly scope: StrMap;
  readonly workdir: string | undefined;
  readonly env: StrMap;
  readonly uses: readonly string[];
  /** Nesting depth: inline `pipeline:` lists and `uses:` expansions (a top-level step is 0). */
  readonly depth: number;
  /** The label of the nearest `uses:` (for unnamed steps inside it). */
  readonly usesLabel?: string;
}

/** A top-level pipeline's starting state: the config (or subpackage) scope, nothing inherited. */
export const topState = (scope: StrMap): NodeState => ({
  scope,
  workdir: undefined,
  env: {},
  uses: [],
  depth: 0,
});

/** Records an error for the step and abandons it (its pipeline list goes on with the next step). */
export type Fail = (path: YamlPath, message: string, needle?: string) => never;

/** Thrown by a {@link Fail} after the error is recorded: ends the step, not the compile. */
export class StepFailure extends Error {
  override readonly name = 'StepFailure';
}

/** A finding located in its file (positions are computed only for reported findings). */
export function diag(
  loc: Loc,
  path: YamlPath,
  message: string,
  severity: 'error' | 'warning' = 'error',
  needle?: string,
): Diagnostic {
  const { line, column } = positions(loc.text).locate(path, false, needle);
  return { severity, file: loc.file, path, message, line, column };
}

/** ` at file:line:column` of a path inside `loc`. */
export function describeAt(loc: Loc, path: YamlPath, needle?: string): string {
  const full = [...loc.path, ...path];
  const { line, column } = positions(loc.text).locate(full, false, needle);
  return ` at ${loc.file}:${line}:${column}`;
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
