/**
 * The persistent parse cache: file-content hash → extraction result, one v8-serialised file per
 * repository under `.melange2/cache/depgraph/` (JSON: it loads about 3× faster than v8.deserialize
 * for this shape). Unchanged files reload without YAML parsing.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExtractResult } from './types.js';

/** Bump when the extracted shape changes: older cache files are then ignored. */
export const CACHE_FORMAT = 'depgraph-parse-3';

export type CacheEntries = Map<string, ExtractResult>;

export function contentKey(buf: Uint8Array): string {
  return createHash('sha1').update(buf).digest('base64');
}

export function cacheFile(cacheDir: string, repoRoot: string): string {
  const id = createHash('sha1').update(repoRoot).digest('hex').slice(0, 16);
  return join(cacheDir, 'depgraph', `${id}.json`);
}

/** A missing, stale or unreadable cache is simply empty: the scan re-parses. */
export function loadCache(file: string): CacheEntries {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return new Map();
  }
  try {
    const v = JSON.parse(text) as { format?: string; entries?: [string, ExtractResult][] };
    if (v.format === CACHE_FORMAT && Array.isArray(v.entries)) return new Map(v.entries);
  } catch {
    // A torn or foreign file: ignore it, it is rewritten after this scan.
  }
  return new Map();
}

/** Atomic: readers see the old or the new file, never half of one. */
export function saveCache(file: string, entries: CacheEntries): void {
  mkdirSync(join(file, '..'), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ format: CACHE_FORMAT, entries: [...entries] }));
  renameSync(tmp, file);
}
