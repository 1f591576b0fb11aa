/** Options and helpers shared by `graph` and `plan`. */
import { readFileSync } from 'node:fs';
import { formatProblem, type RepoScan, ScanError, scanRepository } from '@melange2/depgraph';
import { CliError, EXIT } from '../exit-codes.js';
import { type FlagSet, type FlagValues, withDefault } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';

/** Where `graph`, `plan`, `build-all` and `coordinator` cache parsed configs. */
export const DEFAULT_PARSE_CACHE = '.melange2/cache';

/** The flags of reading a repository. */
export const SCAN_FLAGS = {
  noParseCache: FLAGS.noParseCache,
  parseCacheDir: withDefault(FLAGS.parseCacheDir, DEFAULT_PARSE_CACHE),
  parseWorkers: FLAGS.parseWorkers,
} satisfies FlagSet;
export type ScanFlags = FlagValues<typeof SCAN_FLAGS>;

/** The flags `graph` and `plan` share (besides the scan flags). */
export const GRAPH_FLAGS = {
  pipelineNeeds: FLAGS.pipelineNeeds,
  durations: FLAGS.durations,
  resources: FLAGS.resources,
} satisfies FlagSet;

export function parseFormat<F extends string>(v: string, allowed: readonly F[]): F {
  if (!(allowed as readonly string[]).includes(v)) {
    throw new CliError(`--format: unknown format "${v}" (expected ${allowed.join(', ')})`, EXIT.usage);
  }
  return v as F;
}

/** `{"busybox": 120, …}`: measured build durations in seconds for the weighted critical path. */
export function readDurations(file: string | undefined): Map<string, number> | undefined {
  if (file === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CliError(`--durations ${file}: ${(e as Error).message}`, EXIT.usage);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new CliError(`--durations ${file}: expected an object of config name → seconds`, EXIT.usage);
  }
  const m = new Map<string, number>();
  for (const [k, v] of Object.entries(data)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new CliError(`--durations ${file}: "${k}" must be a non-negative number of seconds`, EXIT.usage);
    }
    m.set(k, v);
  }
  return m;
}

/** The parse cache directory the flags ask for, or false for --no-parse-cache. */
export function cacheDirOf(o: ScanFlags): string | false {
  return o.noParseCache ? false : o.parseCacheDir;
}

export async function scanForCli(repo: string, o: ScanFlags): Promise<RepoScan> {
  try {
    const scan = await scanRepository(repo, {
      cacheDir: cacheDirOf(o),
      ...(o.parseWorkers !== undefined ? { workers: o.parseWorkers } : {}),
    });
    // A broken config is reported and left out; the graph goes on without it (and the command
    // exits 1 once its listing is printed).
    for (const p of scan.problems) process.stderr.write(`melange2-orch: warning: ${formatProblem(p)}\n`);
    return scan;
  } catch (e) {
    if (e instanceof ScanError) throw new CliError(e.message, EXIT.usage, { cause: e });
    throw e;
  }
}
