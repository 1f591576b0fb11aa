/**
 * The persistent parse cache: file-content hash → extraction result, one JSON file per repository
 * under `.melange2/cache/depgraph/` (JSON loads about 3× faster than v8.deserialize for this
 * shape). Unchanged files reload without YAML parsing.
 *
 * A stat index (path → size, mtime, content key) lets an unchanged file skip even reading and
 * hashing; it is trusted only for files whose mtime was well before the moment they were last
 * read, so an edit in the same clock tick as that read cannot go unnoticed.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ParseResult } from './types.js';

/** Bump when the extracted shape changes: older cache files are then ignored. */
const CACHE_FORMAT = 'depgraph-parse-6';

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

/** How far before its last read a file's mtime must be for the stat index to vouch for it. */
export const RACY_MS = 2000;

export function contentKey(buf: Uint8Array): string {
  return createHash('sha1').update(buf).digest('base64');
}

export function cacheFile(cacheDir: string, repoRoot: string): string {
  const id = createHash('sha1').update(repoRoot).digest('hex').slice(0, 16);
  return join(cacheDir, 'depgraph', `${id}.json`);
}

/** A missing, stale or unreadable cache is simply empty: the scan re-parses. */
export function loadCache(file: string): LoadedCache {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return { entries: new Map(), stats: new Map() };
  }
  try {
    const v = JSON.parse(text) as {
      format?: string;
      entries?: [string, ParseResult][];
      stats?: [string, StatEntry][];
    };
    if (v.format === CACHE_FORMAT && Array.isArray(v.entries) && Array.isArray(v.stats)) {
      return { entries: new Map(v.entries), stats: new Map(v.stats) };
    }
  } catch {
    // A torn or foreign file: ignore it, it is rewritten after this scan.
  }
  return { entries: new Map(), stats: new Map() };
}

/** Atomic: readers see the old or the new file, never half of one. */
export function saveCache(file: string, c: LoadedCache): void {
  mkdirSync(join(file, '..'), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ format: CACHE_FORMAT, entries: [...c.entries], stats: [...c.stats] }));
  renameSync(tmp, file);
}
