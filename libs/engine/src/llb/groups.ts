/**
 * Which steps of a build share one exec (one container start and one snapshot). BuildKit pays a
 * fixed ~0.1 s per exec (container start, overlay mount, commit) and each exec adds an overlay
 * layer that every later path lookup walks, where melange runs every step in one long-lived
 * container. Grouping trades per-step caching (a changed or failed step re-runs its whole group)
 * for fewer execs; an unchanged build stays fully cached either way.
 */
import type { PlanStep } from '../compile/plan.js';
import { shellQuote, stepScript } from './script.js';

/**
 * `step`: one exec per step (every step cached on its own). `pipeline`: consecutive steps of one
 * pipeline (the main package's, or a subpackage's) share an exec. `build`: all consecutive steps
 * share one, as melange runs them. Steps with a different environment never share an exec.
 */
export type StepGrouping = 'step' | 'pipeline' | 'build';

/**
 * `build`, as melange: the cold-build cost the bench measures (engine-real) outweighs per-step
 * caching, which only spares work when a later step is edited or a build is retried after a
 * failure (`--step-grouping step` keeps it for that).
 */
export const DEFAULT_STEP_GROUPING: StepGrouping = 'build';

/** Steps that run in one exec; `first` is the index of the first in the plan's steps. */
export interface StepGroup {
  readonly first: number;
  readonly steps: readonly PlanStep[];
}

/** A group's script stays well below Linux's 128 KiB limit for one argument. */
const MAX_GROUP_SCRIPT = 64 * 1024;

const envKey = (s: PlanStep) => JSON.stringify(Object.entries(s.env).sort(([a], [b]) => (a < b ? -1 : 1)));

/** Splits the steps into runs that may share an exec under `grouping`. */
export function groupSteps(steps: readonly PlanStep[], grouping: StepGrouping): StepGroup[] {
  const groups: { first: number; steps: PlanStep[]; size: number }[] = [];
  for (const [i, step] of steps.entries()) {
    const size = stepScript(step).length;
    const last = groups.at(-1);
    const prev = last?.steps.at(-1);
    const joins =
      last !== undefined &&
      prev !== undefined &&
      grouping !== 'step' &&
      (grouping === 'build' || prev.context === step.context) &&
      envKey(prev) === envKey(step) &&
      last.size + size <= MAX_GROUP_SCRIPT;
    if (joins) {
      last.steps.push(step);
      last.size += size;
    } else groups.push({ first: i, steps: [step], size });
  }
  return groups.map(({ first, steps: s }) => ({ first, steps: s }));
}

/** The marker a group prints before each step: `[melange2] step 3/10: <name>`. */
const MARK = '[melange2] step ';
const FAILED = /^\[melange2\] step (\d+)\/\d+ failed with exit code (\d+)/;

/** The display name of a group's exec: the step's own name for one step. */
export function groupName(g: StepGroup): string {
  const first = g.steps[0]!;
  if (g.steps.length === 1) return first.name;
  return `${first.name} … ${g.steps.at(-1)!.name} (${g.steps.length} steps)`;
}

/**
 * The exec's script. One step: its own script, as always. Several: each step in a fresh
 * `/bin/sh -c` (its own errexit, working directory and shell variables, as in its own exec),
 * preceded by a marker line naming it; the first failure prints which step failed and exits
 * with its code. The failure line goes to stdout, after the step's output: BuildKit reads
 * stdout and stderr apart and stamps each chunk when read, so behind a long stdout a stderr line
 * would be stamped before the last stdout lines, and the log tail the error keeps (by
 * timestamp) would lose it.
 */
export function groupScript(g: StepGroup, total: number): string {
  if (g.steps.length === 1) return stepScript(g.steps[0]!);
  const lines: string[] = [];
  for (const [j, step] of g.steps.entries()) {
    const n = `${g.first + j + 1}/${total}`;
    lines.push(
      `printf '%s\\n' ${shellQuote(`${MARK}${n}: ${step.name.split('\n')[0]}`)}`,
      `/bin/sh -c ${shellQuote(stepScript(step))} || { rc=$?; printf '%s\\n' ${shellQuote(`${MARK}${n} failed with exit code `)}"$rc"; exit $rc; }`,
    );
  }
  lines.push('exit 0');
  return lines.join('\n');
}

/** The step a group's log says failed (its index in the plan's steps), if it says so. */
export function failedStepIndex(logTail: readonly string[]): number | undefined {
  for (let i = logTail.length - 1; i >= 0; i--) {
    const m = FAILED.exec(logTail[i]!.trim());
    if (m) return Number(m[1]) - 1;
  }
  return undefined;
}
