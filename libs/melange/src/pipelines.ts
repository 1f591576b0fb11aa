import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, type Diagnostic } from './diagnostics.js';
import { readConfigFile } from './limits.js';
import { checkPipelines, loadYamlOrConfigError, locateFindings } from './parse.js';
import { decode, type Finding, pipelineSchema } from './schema.js';
import { type GraphStep, graphStep, type PipelineLookup } from './projection.js';
import type { Pipeline } from './types.js';

/** The directory of melange2-orch's own built-in pipelines (`uses: <name>` → `<dir>/<name>.yaml`). */
export const BUILTIN_PIPELINE_DIR = fileURLToPath(new URL('../pipelines/', import.meta.url));

/** A `uses:` target, loaded and checked. */
export interface PipelineDefinition {
  readonly uses: string;
  /** The file it was read from. */
  readonly file: string;
  readonly builtin: boolean;
  readonly pipeline: Pipeline;
  /** The file's text, for locating errors found while compiling it. */
  readonly text: string;
  readonly warnings: readonly Diagnostic[];
}

/** `uses:` named no file in any pipeline directory. */
export class PipelineNotFoundError extends Error {
  override readonly name = 'PipelineNotFoundError';
  readonly code = 'PIPELINE_NOT_FOUND';
  constructor(
    readonly uses: string,
    /** Every file looked for, in search order. */
    readonly searched: readonly string[],
  ) {
    super(`pipeline "${uses}" not found (searched: ${searched.join(', ')})`);
  }
}

export class InvalidUsesError extends Error {
  override readonly name = 'InvalidUsesError';
  readonly code = 'PIPELINE_INVALID_USES';
  constructor(readonly uses: string) {
    super(`invalid uses "${uses}": must be a relative name without ".." (such as go/build)`);
  }
}

/**
 * Finds `uses:` pipelines: each of `dirs` in order (a repository's `pipelines/` first, as
 * melange's `--pipeline-dir`), then the built-ins. Definitions are read and checked once per
 * resolver, so a whole-repository compile reads each file once.
 */
export class PipelineResolver {
  private readonly cache = new Map<string, PipelineDefinition | PipelineNotFoundError | ConfigError>();

  constructor(
    readonly dirs: readonly string[] = [],
    readonly builtinDir: string = BUILTIN_PIPELINE_DIR,
  ) {}

  /** Throws {@link PipelineNotFoundError}, {@link InvalidUsesError} or {@link ConfigError}. */
  resolve(uses: string): PipelineDefinition {
    let hit = this.cache.get(uses);
    if (!hit) {
      hit = this.load(uses);
      this.cache.set(uses, hit);
    }
    if (hit instanceof Error) throw hit;
    return hit;
  }

  private load(uses: string): PipelineDefinition | PipelineNotFoundError | ConfigError {
    if (uses === '' || isAbsolute(uses) || uses.split(/[\\/]/).includes('..'))
      throw new InvalidUsesError(uses);
    const searched: string[] = [];
    const candidates = [
      ...this.dirs.map((d) => ({ d, builtin: false })),
      { d: this.builtinDir, builtin: true },
    ];
    for (const { d, builtin } of candidates) {
      const file = join(d, `${uses}.yaml`);
      searched.push(file);
      let text: string;
      try {
        text = readConfigFile(file);
      } catch (e) {
        if (e instanceof ConfigError) return e;
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') continue;
        throw e;
      }
      return parsePipelineFile(uses, file, text, builtin);
    }
    return new PipelineNotFoundError(uses, searched);
  }
}

/** Parses and checks one pipeline file; returns (not throws) a ConfigError so it can be cached. */
export function parsePipelineFile(
  uses: string,
  file: string,
  text: string,
  builtin: boolean,
): PipelineDefinition | ConfigError {
  let raw: ReturnType<typeof loadYamlOrConfigError>;
  try {
    raw = loadYamlOrConfigError(text, file);
  } catch (e) {
    if (e instanceof ConfigError)
      return new ConfigError(e.diagnostics, { code: 'PIPELINE_INVALID', cause: e.cause });
    throw e;
  }
  const findings: Finding[] = [];
  const pipeline = (decode(raw, pipelineSchema, [], findings) ?? {}) as Pipeline;
  if (raw === null) findings.push({ severity: 'error', path: [], message: 'empty pipeline file' });
  checkPipelines(pipeline.pipeline ?? [], ['pipeline'], findings);
  const diags = locateFindings(text, file, findings);
  if (diags.some((d) => d.severity === 'error')) return new ConfigError(diags, { code: 'PIPELINE_INVALID' });
  return { uses, file, builtin, pipeline, text, warnings: diags };
}

/**
 * The resolver as a {@link PipelineLookup}: a name no directory has (or one that cannot name a
 * file) is `undefined`; an invalid pipeline file still throws.
 */
export function resolverLookup(resolver: PipelineResolver): PipelineLookup {
  const steps = new Map<string, GraphStep | undefined>();
  return (uses) => {
    if (steps.has(uses)) return steps.get(uses);
    let step: GraphStep | undefined;
    try {
      step = graphStep(resolver.resolve(uses).pipeline);
    } catch (e) {
      if (!(e instanceof PipelineNotFoundError || e instanceof InvalidUsesError)) throw e;
    }
    steps.set(uses, step);
    return step;
  };
}
