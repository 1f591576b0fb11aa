import { readFileSync, statSync } from 'node:fs';
import { ConfigError } from './diagnostics.js';

/**
 * Bounds on what one config may make the compile and the graph projection do. A `uses:` cycle
 * or a deep fan-out otherwise ends in `Maximum call stack size exceeded` (which nothing can tell
 * from a transient failure) or in gigabytes of expanded steps; these limits turn them into named,
 * permanent config errors raised while expanding, before memory grows.
 */

/**
 * How deep steps may nest, inline `pipeline:` lists and `uses:` expansions together (a top-level
 * step is depth 0). The projection has always stopped here; the deepest Wolfi config nests 2.
 */
export const MAX_PIPELINE_DEPTH = 16;

/**
 * Steps one config may expand to, every `uses:` counted each time it is used (main package,
 * subpackages and tests together). The largest Wolfi compile (ceph-20) expands to 357.
 */
export const MAX_EXPANDED_STEPS = 10_000;

/**
 * Largest config or pipeline file read or parsed, in bytes. The largest Wolfi config is 68 KB;
 * a YAML parse holds several times the text in memory, so a 60x margin still bounds a worker.
 */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** The {@link ConfigError} for a file over {@link MAX_CONFIG_BYTES} (`bytes` long). */
export function configTooLarge(file: string, bytes: number): ConfigError {
  return new ConfigError(
    [
      {
        severity: 'error',
        file,
        path: [],
        message: `file is ${bytes} bytes, more than the ${MAX_CONFIG_BYTES} a config or pipeline may have`,
        line: 0,
        column: 0,
      },
    ],
    { code: 'CONFIG_TOO_LARGE' },
  );
}

/** Throws CONFIG_TOO_LARGE for text over the limit; cheap for the usual small file. */
export function checkConfigSize(text: string, file: string): void {
  // A UTF-8 byte is at most one UTF-16 unit and one unit at most 3 bytes: count only when close.
  if (text.length * 3 <= MAX_CONFIG_BYTES) return;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_CONFIG_BYTES) throw configTooLarge(file, bytes);
}

/** Reads a config or pipeline file, refusing one over {@link MAX_CONFIG_BYTES} before reading it. */
export function readConfigFile(file: string): string {
  const { size } = statSync(file);
  if (size > MAX_CONFIG_BYTES) throw configTooLarge(file, size);
  const text = readFileSync(file, 'utf8');
  // The file may have grown between the stat and the read.
  checkConfigSize(text, file);
  return text;
}

export type PipelineLimitCode = 'PIPELINE_CYCLE' | 'PIPELINE_DEPTH' | 'PIPELINE_TOO_MANY_STEPS';

/** A limit a step would break: what to report, and the `uses:` chain that led there. */
export interface PipelineLimit {
  readonly code: PipelineLimitCode;
  readonly message: string;
  readonly chain: readonly string[];
}

// The chain down to a step, built only for a report: enter runs for every step of every config.
const withUses = (chain: readonly string[], uses: string | undefined) =>
  uses === undefined ? chain : [...chain, uses];

const show = (chain: readonly string[]) => (chain.length ? chain.join(' → ') : '(inline)');

/**
 * Counts the steps of one config's expansion. Call {@link enter} for every step before
 * expanding it; the first limit broken is returned (the caller stops that walk and reports it).
 */
export class ExpansionBudget {
  private steps = 0;

  constructor(
    readonly maxDepth: number = MAX_PIPELINE_DEPTH,
    readonly maxSteps: number = MAX_EXPANDED_STEPS,
  ) {}

  /**
   * `chain`: the `uses:` names expanded from the top-level step down to this one; `uses`: the
   * name this step expands (undefined for an inline step); `depth`: its nesting depth.
   */
  enter(chain: readonly string[], uses: string | undefined, depth: number): PipelineLimit | undefined {
    if (uses !== undefined && chain.includes(uses)) {
      const cycle = [...chain.slice(chain.indexOf(uses)), uses];
      return { code: 'PIPELINE_CYCLE', chain: cycle, message: `pipeline cycle: ${show(cycle)}` };
    }
    if (depth > this.maxDepth)
      return {
        code: 'PIPELINE_DEPTH',
        chain: withUses(chain, uses),
        message: `pipelines nest more than ${this.maxDepth} deep (uses: ${show(withUses(chain, uses))})`,
      };
    if (++this.steps > this.maxSteps)
      return {
        code: 'PIPELINE_TOO_MANY_STEPS',
        chain: withUses(chain, uses),
        message: `the config expands to more than ${this.maxSteps} pipeline steps (at uses: ${show(withUses(chain, uses))})`,
      };
    return undefined;
  }
}
