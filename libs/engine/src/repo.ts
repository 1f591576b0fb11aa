import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { compileConfig } from './compile/compile.js';
import { type BuildPlan, NotForArchError } from './compile/plan.js';
import {
  ConfigError,
  type Diagnostic,
  parseConfig,
  type ParseOptions,
  PipelineResolver,
} from '@melange2/melange';
import { type BuildGraph, buildGraph, type GraphOptions } from './llb/graph.js';

/** The top-level melange configs of a repository directory (`*.yaml`, not dotfiles), sorted. */
export function listConfigs(repoDir: string): string[] {
  return readdirSync(repoDir, { withFileTypes: true })
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith('.yaml') && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
}

/** The default pipeline directories for configs in `dir`: `<dir>/pipelines` when it exists. */
export function defaultPipelineDirs(dir: string): string[] {
  const p = join(dir, 'pipelines');
  return existsSync(p) && statSync(p).isDirectory() ? [p] : [];
}

/** Reads a dotenv-style file (`KEY=VALUE`, `#` comments, optional quotes), as `--env-file` takes. */
export function readEnvFile(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    if (/^(['"]).*\1$/.test(v)) v = v.slice(1, -1);
    else v = v.replace(/\s+#.*$/, '');
    out[m[1]!] = v;
  }
  return out;
}

export type CompileOutcome =
  | {
      readonly status: 'compiled';
      readonly file: string;
      readonly plan: BuildPlan;
      readonly graph: BuildGraph;
    }
  | { readonly status: 'skipped'; readonly file: string; readonly reason: string }
  | {
      readonly status: 'failed';
      readonly file: string;
      readonly reason: string;
      readonly diagnostics: readonly Diagnostic[];
    };

export interface CompileFileOptions {
  readonly arch: string;
  readonly resolver: PipelineResolver;
  readonly parse?: ParseOptions;
  /** Graph options, or a function of the plan (to pick a source tree by package name). */
  readonly graph?: GraphOptions | ((plan: BuildPlan) => GraphOptions);
  readonly buildOptions?: readonly string[];
  readonly sourceDateEpoch?: number;
}

/** Parses, compiles and builds the graph of one config; failures are outcomes, not exceptions. */
export function compileText(text: string, file: string, options: CompileFileOptions): CompileOutcome {
  try {
    const parsed = parseConfig(text, file, {
      ...options.parse,
      ...(options.buildOptions ? { buildOptions: options.buildOptions } : {}),
    });
    const plan = compileConfig(parsed, {
      arch: options.arch,
      resolver: options.resolver,
      ...(options.buildOptions ? { buildOptions: options.buildOptions } : {}),
      ...(options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {}),
    });
    const g = typeof options.graph === 'function' ? options.graph(plan) : options.graph;
    return { status: 'compiled', file, plan, graph: buildGraph(plan, g) };
  } catch (e) {
    if (e instanceof NotForArchError) return { status: 'skipped', file, reason: e.message };
    if (e instanceof ConfigError) return { status: 'failed', file, reason: e.message, diagnostics: e.errors };
    throw e;
  }
}

export interface RepositoryCompileOptions {
  readonly arch: string;
  /** `--pipeline-dir`s; default `<repo>/pipelines` when present. */
  readonly pipelineDirs?: readonly string[];
  readonly parse?: ParseOptions;
  readonly graph?: GraphOptions;
  /** Called per config, in order (for streaming output). */
  readonly onOutcome?: (o: CompileOutcome) => void;
}

export interface RepositorySummary {
  readonly total: number;
  readonly compiled: number;
  readonly skipped: number;
  readonly failed: readonly Extract<CompileOutcome, { status: 'failed' }>[];
}

/** Compiles every config of a repository for one arch. Plans and graphs are not kept. */
export function compileRepository(repoDir: string, options: RepositoryCompileOptions): RepositorySummary {
  const resolver = new PipelineResolver(options.pipelineDirs ?? defaultPipelineDirs(repoDir));
  const files = listConfigs(repoDir);
  let compiled = 0;
  let skipped = 0;
  const failed: Extract<CompileOutcome, { status: 'failed' }>[] = [];
  for (const name of files) {
    const file = join(repoDir, name);
    // compileText reports a file over the size limit as a failed compile.
    const o = compileText(readFileSync(file, 'utf8'), file, {
      arch: options.arch,
      resolver,
      ...(options.parse ? { parse: options.parse } : {}),
      ...(options.graph ? { graph: options.graph } : {}),
    });
    if (o.status === 'compiled') compiled++;
    else if (o.status === 'skipped') skipped++;
    else failed.push(o);
    options.onOutcome?.(o);
  }
  return { total: files.length, compiled, skipped, failed };
}

/** The package's own source directory in a Wolfi-style repository (`<repo>/<name>/`), if any. */
export function packageSourceDir(configFile: string, packageName: string): string | undefined {
  const d = join(dirname(configFile), packageName);
  return existsSync(d) && statSync(d).isDirectory() ? d : undefined;
}
