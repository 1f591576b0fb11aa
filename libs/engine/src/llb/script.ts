import type { PlanStep } from '../compile/plan.js';

/** Quotes a string for /bin/sh (single quotes; a quote becomes '\''). */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The script melange runs for a step (buildEvalRunCommand): errexit, create and enter the working
 * directory, the step's `runs`, success. No pipefail, as in melange: a step that wants it sets it
 * (Wolfi's tests such as `find /usr | fzf --filter=x | grep -q x` rely on a producer killed by
 * SIGPIPE not failing the step).
 */
export function stepScript(step: Pick<PlanStep, 'runs' | 'workdir'>): string {
  const wd = shellQuote(step.workdir);
  return [
    'set -e',
    `[ -d ${wd} ] || mkdir -p ${wd}`,
    `cd ${wd}`,
    step.runs.endsWith('\n') ? step.runs.slice(0, -1) : step.runs,
    'exit 0',
  ].join('\n');
}
