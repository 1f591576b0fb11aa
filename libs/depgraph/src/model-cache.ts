/**
 * The model cache: a config's per-arch modelling outcome (provides, deps, problems), keyed by the
 * config's content key, valid for one context (arch, pipeline-needs, every repository and
 * built-in pipeline's content). Warm runs then skip substitution and var-transforms entirely.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheFile } from './cache.js';
import type { ModelEntry, ModelMemo } from './model.js';
import type { GraphConfig } from '@melange2/melange';

/** Bump when modelling changes (what a ConfigNode holds or how it is computed). */
const MODEL_FORMAT = 'depgraph-model-4';

export interface ModelCache extends ModelMemo {
  /** Writes the entries used in this run, if anything changed. */
  save(): void;
  hits: number;
  misses: number;
}

export function openModelCache(
  cacheDir: string,
  repoRoot: string,
  variant: string,
  context: string,
  fileKeys: ReadonlyMap<string, string>,
): ModelCache {
  const file = cacheFile(cacheDir, repoRoot).replace(/\.json$/, `.${variant}.model.json`);
  const ctx = createHash('sha1').update(MODEL_FORMAT).update('\0').update(context).digest('base64');
  let old = new Map<string, ModelEntry>();
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as {
      context?: string;
      entries?: [string, ModelEntry][];
    };
    if (v.context === ctx && Array.isArray(v.entries)) old = new Map(v.entries);
  } catch {
    // Absent or unreadable: start empty.
  }
  const used = new Map<string, ModelEntry>();
  const cache: ModelCache = {
    hits: 0,
    misses: 0,
    keyOf: (c: GraphConfig) => fileKeys.get(c.file),
    get(key) {
      const e = old.get(key);
      if (e) {
        cache.hits++;
        used.set(key, e);
      }
      return e;
    },
    set(key, e) {
      cache.misses++;
      used.set(key, e);
    },
    save() {
      if (cache.misses === 0 && used.size === old.size) return;
      mkdirSync(join(file, '..'), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ context: ctx, entries: [...used] }));
      renameSync(tmp, file);
    },
  };
  return cache;
}
