import type { PlanStep } from '../compile/plan.js';

/** Quotes a string for /bin/sh (single quotes; a quote becomes '\''). */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The script melange runs for a step: errexit, pipefail where the shell has it, create and enter
 * the working directory, the step's `runs`, success.
 */
export function stepScript(step: Pick<PlanStep, 'runs' | 'workdir'>): string {
  const wd = shellQuote(step.workdir);
  return [
    'set -e',
    '(set -o pipefail) 2>/dev/null && set -o pipefail',
    `[ -d ${wd} ] || mkdir -p ${wd}`,
    `cd ${wd}`,
    step.runs.endsWith('\n') ? step.runs.slice(0, -1) : step.runs,
    'exit 0',
  ].join('\n');
}
