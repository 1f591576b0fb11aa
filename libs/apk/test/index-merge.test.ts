import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  addToIndexFile,
  buildIndexArchive,
  IncrementalIndex,
  type IndexEntry,
  packageInfo,
  packApk,
  readIndexFile,
} from '@melange2/apk';
import { tmp, tree } from './helpers.js';

/** `n` distinct entries (enough for several content-defined chunks). */
function entries(n: number): IndexEntry[] {
  return Array.from({ length: n }, (_, i) => ({
    ...packageInfo({ name: `pkg${i}`, version: `1.${i % 7}-r0`, arch: 'x86_64', size: 1000 + i }),
    checksum: `Q1${Buffer.alloc(20, i % 251).toString('base64')}`,
    fileSize: 5000 + i,
  }));
}

async function newApk(dir: string): Promise<string> {
  const out = join(dir, 'hello-1-r0.apk');
  await packApk({
    dir: tree(tmp(), { 'usr/bin/hello': 'hi' }),
    info: packageInfo({ name: 'hello', version: '1-r0', arch: 'x86_64' }),
    output: out,
  });
  return out;
}

describe('index --merge (addToIndexFile on an existing file)', () => {
  it('reuses the compressed chunks of unchanged records and writes the same bytes as a full rebuild', async () => {
    const dir = tmp('merge-');
    const path = join(dir, 'APKINDEX.tar.gz');
    writeFileSync(path, buildIndexArchive({ description: 'd', entries: entries(3000) }));
    const opened = IncrementalIndex.open(path);
    expect(opened.adoptedChunks).toBeGreaterThan(10);
    // Nothing changed: the rebuilt archive is the file, byte for byte.
    expect(opened.build().equals(readFileSync(path))).toBe(true);

    const merged = await addToIndexFile(path, [await newApk(dir)]);
    expect(merged.entries).toHaveLength(3001);
    const fresh = buildIndexArchive({ description: 'd', entries: readIndexFile(path).index.entries });
    expect(readFileSync(path).equals(fresh)).toBe(true);
  });

  it('falls back to compressing everything for an index another tool wrote as one stream', async () => {
    const dir = tmp('merge-foreign-');
    const path = join(dir, 'APKINDEX.tar.gz');
    const ours = buildIndexArchive({ description: 'd', entries: entries(600) });
    writeFileSync(path, gzipSync(gunzipSync(ours), { level: 9 }));
    expect(IncrementalIndex.open(path).adoptedChunks).toBe(0);
    await addToIndexFile(path, [await newApk(dir)]);
    const fresh = buildIndexArchive({ description: 'd', entries: readIndexFile(path).index.entries });
    expect(readFileSync(path).equals(fresh)).toBe(true);
    expect(readIndexFile(path).index.entries.map((e) => e.name)).toContain('hello');
  });
});
