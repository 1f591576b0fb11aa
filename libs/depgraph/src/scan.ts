/**
 * Repository scan: every top-level `*.yaml` that is a melange config, plus the `pipelines/`
 * directory. YAML parsing is spread over worker threads and remembered in a content-keyed cache,
 * so a repository that did not change reloads without parsing.
 */
import { readdirSync, readFileSync, type Stats, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import {
  type CacheEntries,
  cacheFile,
  contentKey,
  type LoadedCache,
  loadCache,
  loadStats,
  RACY_MS,
  type StatIndex,
  saveCache,
} from './cache.js';
import { parseFile } from './parse-file.js';
import { configTooLarge, type GraphConfig, MAX_CONFIG_BYTES } from '@melange2/melange';
import type { ParseResult, RepoPipeline, ScanProblem } from './types.js';
import { type ParseJob, parseOnWorker } from './workers.js';

export interface ScanOptions {
  /**
   * Parse workers besides the main thread; 0 parses in-process only. Default: none on ≤ 2 cores
   * (measured on the shared 2-core machine, one worker made a cold Wolfi scan ~0.3 s slower: its
   * start-up and a second cold JIT cost more than half the parsing), else cores − 1, at most 4.
   */
  workers?: number;
  /** Where the parse cache lives (`<dir>/depgraph/…`); `false` disables it. Default `.melange2/cache` under the cwd. */
  cacheDir?: string | false;
  /** Parse in-process when fewer files than this need parsing (a worker costs ~0.1 s to start). */
  workerThreshold?: number;
}

interface ScanStats {
  files: number;
  parsed: number;
  fromCache: number;
  workers: number;
  ms: number;
}

export interface RepoScan {
  root: string;
  /** Configs sorted by package name; a name defined twice keeps the first file (reported). */
  configs: GraphConfig[];
  /** Repository pipelines by `uses:` name. */
  pipelines: Map<string, RepoPipeline>;
  problems: ScanProblem[];
  /** Relative path → content key, for change detection. */
  fileKeys: Map<string, string>;
  stats: ScanStats;
}

/** Fewer misses than this are parsed in-process: starting a worker costs more than it saves. */
const WORKER_THRESHOLD = 200;

function defaultWorkers(): number {
  const cores = availableParallelism();
  return cores <= 2 ? 0 : Math.min(4, cores - 1);
}

/** The repository itself cannot be scanned (a single file that cannot be read is a problem, not an error). */
export class ScanError extends Error {
  override readonly name = 'ScanError';
  constructor(
    /** `SCAN_NOT_DIRECTORY`: the path is not a directory; `SCAN_UNREADABLE`: it cannot be listed. */
    readonly code: 'SCAN_NOT_DIRECTORY' | 'SCAN_UNREADABLE',
    readonly root: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${root}: ${message}`, options);
  }
}

/** Every `*.yaml` under `dir`, relative to `base`, dotfiles skipped. */
export function listPipelines(dir: string, base: string, out: string[]): void {
  let ents: import('node:fs').Dirent[];
  try {
    ents = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of ents) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) listPipelines(p, base, out);
    else if (e.name.endsWith('.yaml')) out.push(relative(base, p));
  }
}

interface Job {
  file: string;
  pipelineName?: string;
}

/** The top-level `*.yaml` files and the `pipelines/` tree, sorted; throws {@link ScanError}. */
function listJobs(root: string): Job[] {
  let top: string[];
  try {
    if (!statSync(root).isDirectory()) throw new ScanError('SCAN_NOT_DIRECTORY', root, 'not a directory');
    top = readdirSync(root).filter((f) => f.endsWith('.yaml') && !f.startsWith('.'));
  } catch (e) {
    if (e instanceof ScanError) throw e;
    throw new ScanError('SCAN_UNREADABLE', root, `cannot read the repository: ${(e as Error).message}`, {
      cause: e,
    });
  }
  top.sort();
  const pipelineFiles: string[] = [];
  listPipelines(join(root, 'pipelines'), join(root, 'pipelines'), pipelineFiles);
  pipelineFiles.sort();
  return [
    ...top.map((f) => ({ file: f })),
    ...pipelineFiles.map((p) => ({
      file: `pipelines/${p.split(sep).join('/')}`,
      pipelineName: p.slice(0, -'.yaml'.length).split(sep).join('/'),
    })),
  ];
}

type Miss = { index: number; job: ParseJob; key: string };

/** What the parse cache and the files on disk give before any parsing. */
interface Lookup {
  /** Per job: the cached result, or undefined (a miss, or unreadable). */
  results: (ParseResult | undefined)[];
  misses: Miss[];
  /** The cache entries still in use, misses added once parsed. */
  fresh: CacheEntries;
  stats: StatIndex;
  statChanged: boolean;
  fileKeys: Map<string, string>;
  problems: ScanProblem[];
}

/**
 * Per job: a hit through the stat index (no read), else read and hash the file and look the
 * content up; what is left is a miss with its text.
 */
function lookUp(
  root: string,
  jobs: readonly Job[],
  cachePath: string | undefined,
  loaded: LoadedCache,
): Lookup {
  const out: Lookup = {
    results: new Array(jobs.length),
    misses: [],
    fresh: new Map(),
    stats: new Map(),
    statChanged: false,
    fileKeys: new Map(),
    problems: [],
  };
  const hit = (i: number, file: string, key: string, r: ParseResult) => {
    out.fileKeys.set(file, key);
    out.results[i] = r;
    out.fresh.set(key, r);
  };
  for (let i = 0; i < jobs.length; i++) {
    const j = jobs[i]!;
    const path = join(root, j.file);
    let st: Stats | undefined;
    if (cachePath) {
      try {
        st = statSync(path);
      } catch (e) {
        out.problems.push({ file: j.file, message: `cannot read: ${(e as Error).message}` });
        continue;
      }
      const prev = loaded.stats.get(j.file);
      const cached = prev && unchangedSince(prev, st) ? loaded.entries.get(prev.key) : undefined;
      if (prev && cached) {
        hit(i, j.file, prev.key, cached);
        out.stats.set(j.file, prev);
        continue;
      }
    }
    // Bounded before reading when the stat is at hand; else the parse refuses the text.
    if (st && st.size > MAX_CONFIG_BYTES) {
      const d = configTooLarge(j.file, st.size).errors[0]!;
      out.problems.push({ file: j.file, message: d.message, code: 'CONFIG_TOO_LARGE' });
      continue;
    }
    let buf: Buffer;
    const readAt = Date.now();
    try {
      buf = readFileSync(path);
    } catch (e) {
      out.problems.push({ file: j.file, message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    // The pipeline name is part of what is extracted, so it is part of the key.
    const key = j.pipelineName === undefined ? contentKey(buf) : `${contentKey(buf)}:${j.pipelineName}`;
    if (st) {
      out.stats.set(j.file, { size: st.size, mtimeMs: st.mtimeMs, key, readAt });
      out.statChanged = true;
    }
    const cached = loaded.entries.get(key);
    if (cached) hit(i, j.file, key, cached);
    else {
      out.fileKeys.set(j.file, key);
      out.misses.push({ index: i, key, job: { ...j, text: buf.toString('utf8') } });
    }
  }
  return out;
}

/** The stat index vouches for a file whose size and mtime match and whose mtime was well before its last read. */
function unchangedSince(prev: { size: number; mtimeMs: number; readAt: number }, st: Stats): boolean {
  return prev.size === st.size && prev.mtimeMs === st.mtimeMs && st.mtimeMs < prev.readAt - RACY_MS;
}

/** Parses the misses, split by bytes between `nWorkers` workers and this thread; fills `l.results`. */
async function parseMisses(l: Lookup, nWorkers: number): Promise<void> {
  const { misses } = l;
  if (misses.length === 0) return;
  // The main thread takes one share and parses while the workers do theirs.
  const shares: Miss[][] = Array.from({ length: nWorkers + 1 }, () => []);
  const total = misses.reduce((n, m) => n + m.job.text.length, 0);
  let acc = 0;
  for (const m of misses) {
    const s = Math.min(nWorkers, Math.floor((acc / total) * (nWorkers + 1)));
    shares[s]!.push(m);
    acc += m.job.text.length;
  }
  // A worker that cannot start (or dies) costs speed, not the scan: its share is parsed here.
  const parseHere = (jobs: ParseJob[]) => jobs.map((j) => parseFile(j.text, j.file, j.pipelineName));
  const pending = shares.slice(0, nWorkers).map((share) => {
    const jobs = share.map((m) => m.job);
    return parseOnWorker(jobs).catch(() => parseHere(jobs));
  });
  const own = parseHere(shares[nWorkers]!.map((m) => m.job));
  const all = [...(await Promise.all(pending)), own];
  shares.forEach((share, s) => {
    const got = all[s]!;
    share.forEach((m, k) => {
      const r = got[k]!;
      l.results[m.index] = r;
      l.fresh.set(m.key, r);
    });
  });
}

/** Configs by package name (the first file of a name wins) and pipelines by `uses:` name. */
function collect(
  results: readonly (ParseResult | undefined)[],
  problems: ScanProblem[],
): { configs: GraphConfig[]; pipelines: Map<string, RepoPipeline> } {
  const byName = new Map<string, GraphConfig>();
  const pipelines = new Map<string, RepoPipeline>();
  for (const r of results) {
    if (!r) continue;
    if (r.kind === 'error') problems.push(r.problem);
    else if (r.kind === 'pipeline') pipelines.set(r.pipeline.name, r.pipeline);
    else if (r.kind === 'config') {
      const prev = byName.get(r.config.name);
      if (prev) {
        problems.push({
          file: r.config.file,
          message: `package "${r.config.name}" is already defined by ${prev.file}; this file is ignored`,
        });
      } else byName.set(r.config.name, r.config);
    }
  }
  const configs = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { configs, pipelines };
}

/** What `scanKeys` learns of a repository: every file's content key and the scan's problems. */
export type RepoKeys = Pick<RepoScan, 'root' | 'fileKeys' | 'problems'>;

/**
 * Every file's content key and the problems, from the parse cache's stat index alone (no file
 * read, no entry loaded), when it vouches for exactly the files there are now (the same files,
 * each unchanged since it was read: see `unchangedSince`); the problems are then those of the
 * scan that wrote it, which the same contents give again. Undefined when it does not (a file
 * added, removed, changed, unreadable, or no cache): the scan itself has to run.
 */
export function scanKeys(repo: string, cacheDir: string): RepoKeys | undefined {
  const root = resolve(repo);
  let jobs: Job[];
  try {
    jobs = listJobs(root);
  } catch {
    return undefined;
  }
  const loaded = loadStats(cacheFile(cacheDir, root));
  if (!loaded || loaded.stats.size !== jobs.length) return undefined;
  const fileKeys = new Map<string, string>();
  for (const j of jobs) {
    const prev = loaded.stats.get(j.file);
    let st: Stats;
    try {
      st = statSync(join(root, j.file));
    } catch {
      return undefined;
    }
    if (!prev || !unchangedSince(prev, st)) return undefined;
    fileKeys.set(j.file, prev.key);
  }
  return { root, fileKeys, problems: loaded.problems };
}

export async function scanRepository(repo: string, opts: ScanOptions = {}): Promise<RepoScan> {
  const t0 = performance.now();
  const root = resolve(repo);
  const jobs = listJobs(root);
  const cachePath = opts.cacheDir === false ? undefined : cacheFile(opts.cacheDir ?? '.melange2/cache', root);
  const loaded: LoadedCache = cachePath ? loadCache(cachePath) : { entries: new Map(), stats: new Map() };
  const l = lookUp(root, jobs, cachePath, loaded);
  const nWorkers =
    l.misses.length < (opts.workerThreshold ?? WORKER_THRESHOLD)
      ? 0
      : Math.max(0, opts.workers ?? defaultWorkers());
  await parseMisses(l, nWorkers);
  const { problems } = l;
  const { configs, pipelines } = collect(l.results, problems);

  const changed =
    l.misses.length > 0 ||
    l.fresh.size !== loaded.entries.size ||
    l.statChanged ||
    l.stats.size !== loaded.stats.size;
  if (cachePath && changed) {
    try {
      // With the problems as they are now: what every file's content gives (see `scanKeys`).
      saveCache(cachePath, { entries: l.fresh, stats: l.stats }, problems);
    } catch (e) {
      // A read-only cache dir must not fail the scan; the next run simply parses again.
      problems.push({ file: cachePath, message: `parse cache not written: ${(e as Error).message}` });
    }
  }
  return {
    root,
    configs,
    pipelines,
    problems,
    fileKeys: l.fileKeys,
    stats: {
      files: jobs.length,
      parsed: l.misses.length,
      fromCache: jobs.length - l.misses.length,
      workers: nWorkers,
      ms: performance.now() - t0,
    },
  };
}
