/** Options and helpers shared by `graph` and `plan`. */
import { readFileSync } from 'node:fs';
import {
  type Arch,
  ARCHES,
  CYCLE_POLICIES,
  type CyclePolicy,
  formatProblem,
  isArch,
  type RepoScan,
  ScanError,
  scanRepository,
} from '@melange2/depgraph';
import { CliError, EXIT } from '../exit-codes.js';

export function parseArchList(v: string): Arch[] {
  const arches = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (arches.length === 0) throw new CliError('--arch: expected an architecture', EXIT.usage);
  for (const a of arches) {
    if (!isArch(a))
      throw new CliError(`--arch: unknown architecture "${a}" (expected ${ARCHES.join(', ')})`, EXIT.usage);
  }
  return [...new Set(arches)] as Arch[];
}

export function parsePolicy(v: string | undefined): CyclePolicy | undefined {
  if (v === undefined) return undefined;
  if (!(CYCLE_POLICIES as readonly string[]).includes(v)) {
    throw new CliError(
      `--cycle-policy: unknown policy "${v}" (expected ${CYCLE_POLICIES.join(' or ')})`,
      EXIT.usage,
    );
  }
  return v as CyclePolicy;
}

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

export interface ScanCliOptions {
  cache: boolean;
  cacheDir?: string;
  workers?: string;
}

/** The cache directory the options ask for, or false for --no-cache. */
export function cacheDirOf(o: ScanCliOptions): string | false {
  return o.cache ? (o.cacheDir ?? '.melange2/cache') : false;
}

export async function scanForCli(repo: string, o: ScanCliOptions): Promise<RepoScan> {
  let workers: number | undefined;
  if (o.workers !== undefined) {
    workers = Number(o.workers);
    if (!Number.isInteger(workers) || workers < 0)
      throw new CliError('--workers: expected a whole number ≥ 0', EXIT.usage);
  }
  try {
    const scan = await scanRepository(repo, {
      cacheDir: cacheDirOf(o),
      ...(workers !== undefined ? { workers } : {}),
    });
    // A broken config is reported and left out; the graph goes on without it.
    for (const p of scan.problems) process.stderr.write(`melange2-orch: warning: ${formatProblem(p)}\n`);
    return scan;
  } catch (e) {
    if (e instanceof ScanError) throw new CliError(e.message, EXIT.usage);
    throw e;
  }
}
