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
  loadCache,
  RACY_MS,
  type StatIndex,
  saveCache,
} from './cache.js';
import { parseFile } from './parse-file.js';
import type { GraphConfig } from '@melange2/melange';
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

export async function scanRepository(repo: string, opts: ScanOptions = {}): Promise<RepoScan> {
  const t0 = performance.now();
  const root = resolve(repo);
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

  const jobs: { file: string; pipelineName?: string }[] = [
    ...top.map((f) => ({ file: f })),
    ...pipelineFiles.map((p) => ({
      file: `pipelines/${p.split(sep).join('/')}`,
      pipelineName: p.slice(0, -'.yaml'.length).split(sep).join('/'),
    })),
  ];

  const cachePath = opts.cacheDir === false ? undefined : cacheFile(opts.cacheDir ?? '.melange2/cache', root);
  const loaded = cachePath ? loadCache(cachePath) : { entries: new Map(), stats: new Map() };
  const cache: CacheEntries = loaded.entries;
  const fresh: CacheEntries = new Map();
  const stats: StatIndex = new Map();
  let statChanged = false;
  const fileKeys = new Map<string, string>();
  const results: (ParseResult | undefined)[] = new Array(jobs.length);
  const misses: { index: number; job: ParseJob; key: string }[] = [];
  const problems: ScanProblem[] = [];

  for (let i = 0; i < jobs.length; i++) {
    const j = jobs[i]!;
    const path = join(root, j.file);
    let st: Stats | undefined;
    if (cachePath) {
      try {
        st = statSync(path);
      } catch (e) {
        problems.push({ file: j.file, message: `cannot read: ${(e as Error).message}` });
        continue;
      }
      const prev = loaded.stats.get(j.file);
      if (
        prev &&
        prev.size === st.size &&
        prev.mtimeMs === st.mtimeMs &&
        st.mtimeMs < prev.readAt - RACY_MS
      ) {
        const hit = cache.get(prev.key);
        if (hit) {
          fileKeys.set(j.file, prev.key);
          results[i] = hit;
          fresh.set(prev.key, hit);
          stats.set(j.file, prev);
          continue;
        }
      }
    }
    let buf: Buffer;
    const readAt = Date.now();
    try {
      buf = readFileSync(path);
    } catch (e) {
      problems.push({ file: j.file, message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    // The pipeline name is part of what is extracted, so it is part of the key.
    const key = j.pipelineName === undefined ? contentKey(buf) : `${contentKey(buf)}:${j.pipelineName}`;
    fileKeys.set(j.file, key);
    if (st) {
      stats.set(j.file, { size: st.size, mtimeMs: st.mtimeMs, key, readAt });
      statChanged = true;
    }
    const hit = cache.get(key);
    if (hit) {
      results[i] = hit;
      fresh.set(key, hit);
    } else {
      misses.push({ index: i, key, job: { ...j, text: buf.toString('utf8') } });
    }
  }

  const nWorkers =
    misses.length < (opts.workerThreshold ?? WORKER_THRESHOLD)
      ? 0
      : Math.max(0, opts.workers ?? defaultWorkers());
  if (misses.length > 0) {
    // Split by bytes: the main thread takes one share and parses while the workers do theirs.
    const shares: (typeof misses)[] = Array.from({ length: nWorkers + 1 }, () => []);
    const total = misses.reduce((n, m) => n + m.job.text.length, 0);
    let acc = 0;
    for (const m of misses) {
      const s = Math.min(nWorkers, Math.floor((acc / total) * (nWorkers + 1)));
      shares[s]!.push(m);
      acc += m.job.text.length;
    }
    const mine = shares[nWorkers]!;
    // A worker that cannot start (or dies) costs speed, not the scan: its share is parsed here.
    const parseHere = (jobs: ParseJob[]) => jobs.map((j) => parseFile(j.text, j.file, j.pipelineName));
    const pending = shares.slice(0, nWorkers).map((share) => {
      const jobs = share.map((m) => m.job);
      return parseOnWorker(jobs).catch(() => parseHere(jobs));
    });
    const own = mine.map((m) => parseFile(m.job.text, m.job.file, m.job.pipelineName));
    const all = [...(await Promise.all(pending)), own];
    shares.forEach((share, s) => {
      const got = all[s === nWorkers ? all.length - 1 : s]!;
      share.forEach((m, k) => {
        const r = got[k]!;
        results[m.index] = r;
        fresh.set(m.key, r);
      });
    });
  }

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

  if (
    cachePath &&
    (misses.length > 0 || fresh.size !== cache.size || statChanged || stats.size !== loaded.stats.size)
  ) {
    try {
      saveCache(cachePath, { entries: fresh, stats });
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
    fileKeys,
    stats: {
      files: jobs.length,
      parsed: misses.length,
      fromCache: jobs.length - misses.length,
      workers: nWorkers,
      ms: performance.now() - t0,
    },
  };
}
