// The content-addressed package cache under concurrency (issue 3 follow-up): processes sharing one
// cache publish without a lock (unique temps, verify, link/rename without replacing).
//  - cold, 1 process: install a 40-package environment into an empty cache (reference);
//  - cold, P processes sharing one empty cache, released together;
//  - cold, P processes with one cache each (the same work with no sharing: the fair reference
//    for the shared run on the same cores);
//  - warm: the same environment again from a full cache (the hit path), median of 10.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  addToIndexFile,
  type CacheEvent,
  installPackages,
  loadRepository,
  packageInfo,
  packApk,
  type ResolvedPackage,
  resolveWorld,
} from '@melange2/apk';

interface Child {
  cacheDir: string;
  packages: ResolvedPackage[];
  repo: string;
  startAt: number;
}

if (process.argv[2] === '--child') {
  const c = JSON.parse(process.argv[3] ?? '') as Child;
  const events: Record<string, number> = {};
  const count = (e: CacheEvent) => {
    const k = 'outcome' in e ? `${e.type}:${e.outcome}` : e.type;
    events[k] = (events[k] ?? 0) + 1;
  };
  while (Date.now() < c.startAt) await new Promise((r) => setTimeout(r, 1));
  const t = performance.now();
  await installPackages({
    packages: c.packages,
    repositories: [{ url: c.repo }],
    arch: 'x86_64',
    world: [],
    cacheDir: c.cacheDir,
    onCacheEvent: count,
  });
  process.stdout.write(`${JSON.stringify({ ms: performance.now() - t, events })}\n`);
  process.exit(0);
}

const P = Number(process.argv[2] ?? 3);
const N = Number(process.argv[3] ?? 40);
const dir = mkdtempSync(join(tmpdir(), 'apk-cache-bench-'));
const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

function child(c: Child): Promise<{ ms: number; events: Record<string, number> }> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      [...process.execArgv, new URL(import.meta.url).pathname, '--child', JSON.stringify(c)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}`)),
    );
  });
}

/** P children released at the same instant; wall time from release to the last one done. */
async function together(caches: string[], packages: ResolvedPackage[], repo: string) {
  const startAt = Date.now() + 1500; // past every child's startup
  const rs = await Promise.all(caches.map((cacheDir) => child({ cacheDir, packages, repo, startAt })));
  const events: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r.events)) events[k] = (events[k] ?? 0) + v;
  return { wall: Math.max(...rs.map((r) => r.ms)), events };
}

try {
  const repo = join(dir, 'repo');
  const apks: string[] = [];
  for (let i = 0; i < N; i++) {
    const src = mkdtempSync(join(dir, 'src-'));
    for (let f = 0; f < 50; f++) writeFileSync(join(src, `f${f}`), Buffer.alloc(2000 + f * 97, i + f));
    const out = join(repo, 'x86_64', `p${i}-1-r0.apk`);
    await packApk({
      dir: src,
      info: packageInfo({ name: `p${i}`, version: '1-r0', arch: 'x86_64' }),
      output: out,
    });
    apks.push(out);
  }
  await addToIndexFile(join(repo, 'x86_64', 'APKINDEX.tar.gz'), apks, { fresh: true });
  const loaded = await loadRepository({ url: repo }, 'x86_64', { allowUntrusted: true });
  const world = apks.map((_, i) => `p${i}`);
  const packages = resolveWorld({ repositories: [loaded], world, arch: 'x86_64' }).packages;

  const one = await together([join(dir, 'c-one')], packages, repo);
  const shared = await together(
    Array.from({ length: P }, () => join(dir, 'c-shared')),
    packages,
    repo,
  );
  const separate = await together(
    Array.from({ length: P }, (_, i) => join(dir, `c-sep-${i}`)),
    packages,
    repo,
  );
  const warm: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await installPackages({
      packages,
      repositories: [{ url: repo }],
      arch: 'x86_64',
      world,
      cacheDir: join(dir, 'c-one'),
    });
    warm.push(performance.now() - t);
  }
  const f = (ms: number) => `${ms.toFixed(0)} ms`;
  console.log(`apk cache, ${N} packages × 50 files:`);
  console.log(`  cold, 1 process:                     ${f(one.wall)} (reference)`);
  console.log(
    `  cold, ${P} processes, one shared cache: ${f(shared.wall)} (${(shared.wall / one.wall).toFixed(2)}× the reference; events ${JSON.stringify(shared.events)})`,
  );
  console.log(
    `  cold, ${P} processes, separate caches:  ${f(separate.wall)} (${(separate.wall / one.wall).toFixed(2)}× the reference; shared/separate ${(shared.wall / separate.wall).toFixed(2)})`,
  );
  console.log(
    `  warm (all hits), in-process:         ${med(warm).toFixed(1)} ms median of 10 (${(med(warm) / N).toFixed(2)} ms/package)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
