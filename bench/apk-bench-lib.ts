// Shared by the apk-* benchmarks: synthetic index entries and a cached synthetic index file.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIndexArchive, type IndexEntry, packageInfo } from '@melange2/apk';

/** `n` index entries shaped like Wolfi's: ~8 versions per name, so:/cmd: provides, 3 deps each. */
export function syntheticEntries(n: number): IndexEntry[] {
  const out: IndexEntry[] = [];
  const names = Math.ceil(n / 8);
  for (let i = 0; i < n; i++) {
    const base = i % names;
    const name = `pkg${base}`;
    const v = `${1 + Math.floor(i / names)}.${i % 7}.${i % 13}-r${i % 5}`;
    out.push({
      ...packageInfo({
        name,
        version: v,
        arch: 'x86_64',
        size: 100_000 + i,
        description: `synthetic package number ${i} for the index benchmark`,
        url: `https://example.com/${name}`,
        license: 'Apache-2.0',
        origin: name,
        maintainer: 'Bench <bench@example.com>',
        builddate: 1_700_000_000 + i,
        commit: '326e0ed687bdfeadac839dc9b25686e4442c9d04',
        // A DAG: each package depends on lower-numbered ones.
        depends:
          base === 0
            ? []
            : ['so:libc.so.6', `pkg${Math.floor(base / 2)}`, `so:libpkg${Math.floor(base / 3)}.so.1`],
        provides: [
          `so:libpkg${base}.so.1=1.${i % 9}`,
          `cmd:${name}=${v}`,
          ...(base === 0 ? ['so:libc.so.6=6'] : []),
        ],
      }),
      checksum: `Q1${Buffer.alloc(20, i % 251).toString('base64')}`,
      fileSize: 50_000 + i,
    });
  }
  return out;
}

/** Path of a cached unsigned synthetic index of `n` entries, generated in a child process (so the
 * caller's RSS is its own). */
export function syntheticIndexFile(n: number): string {
  const path = join(tmpdir(), `melange2-apk-bench-index-${n}-v1.tar.gz`);
  if (!existsSync(path)) {
    const r = spawnSync(
      process.execPath,
      [...process.execArgv, new URL(import.meta.url).pathname, String(n), path],
      {
        stdio: 'inherit',
      },
    );
    if (r.status !== 0) throw new Error('generating the synthetic index failed');
  }
  return path;
}

if (process.argv[1] === new URL(import.meta.url).pathname && process.argv[3]) {
  const n = Number(process.argv[2]);
  writeFileSync(
    process.argv[3],
    buildIndexArchive({ description: 'bench', entries: syntheticEntries(n) }, { sourceDateEpoch: 0 }),
  );
}
