/**
 * The persistent parse cache: file-content hash → extraction result, one JSON file per repository
 * under `.melange2/cache/depgraph/` (JSON loads about 3× faster than v8.deserialize for this
 * shape). Unchanged files reload without YAML parsing.
 *
 * A stat index (path → size, mtime, content key) lets an unchanged file skip even reading and
 * hashing; it is trusted only for files whose mtime was well before the moment they were last
 * read, so an edit in the same clock tick as that read cannot go unnoticed. It is a file of its
 * own beside the entries (`<id>.stats.json`, with the problems of the scan that wrote it): small
 * enough that a run whose plan is memoized learns every file's key without loading the entries
 * (`scanKeys`).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ParseResult, ScanProblem } from './types.js';

/** Bump when the extracted shape changes: older cache files are then ignored. */
const CACHE_FORMAT = 'depgraph-parse-7';

export type CacheEntries = Map<string, ParseResult>;

interface StatEntry {
  size: number;
  mtimeMs: number;
  key: string;
  /** When the file was read (ms since epoch). */
  readAt: number;
}

export type StatIndex = Map<string, StatEntry>;

export interface LoadedCache {
  entries: CacheEntries;
  stats: StatIndex;
}

/** The stat index as its own file says it, with the problems of the scan that wrote it. */
export interface LoadedStats {
  stats: StatIndex;
  problems: ScanProblem[];
}

/** How far before its last read a file's mtime must be for the stat index to vouch for it. */
export const RACY_MS = 2000;

export function contentKey(buf: Uint8Array): string {
  return createHash('sha1').update(buf).digest('base64');
}

export function cacheFile(cacheDir: string, repoRoot: string): string {
  const id = createHash('sha1').update(repoRoot).digest('hex').slice(0, 16);
  return join(cacheDir, 'depgraph', `${id}.json`);
}

/** The stat index's file beside the entries' file. */
function statsFile(file: string): string {
  return `${file.replace(/\.json$/, '')}.stats.json`;
}

/** A file's JSON, or undefined when it is missing, torn or not JSON. */
function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The stat index alone, or undefined (missing, stale, unreadable: then the scan has to decide). */
export function loadStats(file: string): LoadedStats | undefined {
  const v = readJson(statsFile(file)) as
    | { format?: string; stats?: [string, StatEntry][]; problems?: ScanProblem[] }
    | undefined;
  if (v?.format !== CACHE_FORMAT || !Array.isArray(v.stats) || !Array.isArray(v.problems)) return undefined;
  return { stats: new Map(v.stats), problems: v.problems };
}

/** A missing, stale or unreadable cache is simply empty: the scan re-parses. */
export function loadCache(file: string): LoadedCache {
  const v = readJson(file) as { format?: string; entries?: [string, ParseResult][] } | undefined;
  // A torn or foreign file: ignored, it is rewritten after this scan.
  const entries = v?.format === CACHE_FORMAT && Array.isArray(v.entries) ? new Map(v.entries) : new Map();
  return { entries, stats: loadStats(file)?.stats ?? new Map() };
}

/**
 * Atomic per file: readers see the old or the new one, never half of one. The stat index goes
 * last: one that is newer than the entries only costs misses (a key not among them is parsed again).
 */
export function saveCache(file: string, c: LoadedCache, problems: readonly ScanProblem[]): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeAtomic(file, JSON.stringify({ format: CACHE_FORMAT, entries: [...c.entries] }));
  writeAtomic(statsFile(file), JSON.stringify({ format: CACHE_FORMAT, stats: [...c.stats], problems }));
}

function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
