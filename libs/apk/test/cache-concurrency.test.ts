/**
 * Several real processes installing the same packages into one cache at the same moment (a file
 * barrier starts every iteration together), from a directory and over http in turn, with corrupt
 * entries seeded in some iterations: every
 * process must get packages that verify and trees that match their manifests and do not change
 * under it, nothing half-written may remain, and exactly the seeded corrupt entries end in the trash.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addToIndexFile,
  Keyring,
  loadRepository,
  packageInfo,
  packApk,
  type ResolvedPackage,
  resolveWorld,
  signingKeyFromPem,
} from '@melange2/apk';
import { cachePaths, TRASH_DIR } from '@melange2/apk/internal';
import type { WorkerInput, WorkerReport } from './fixtures/cache-worker.js';
import { testKey, tmp, tree } from './helpers.js';

const PROCESSES = Number(process.env.APK_CACHE_PROCESSES ?? 3);
const ITERATIONS = Number(process.env.APK_CACHE_ITERATIONS ?? 12);
const here = fileURLToPath(new URL('.', import.meta.url));
const worker = join(here, 'fixtures', 'cache-worker.ts');

let repoDir: string;
let httpUrl: string;
let packages: ResolvedPackage[];

beforeAll(async () => {
  const kp = await testKey();
  const key = signingKeyFromPem(kp.privatePem, 'test.rsa.pub');
  repoDir = tmp('cc-repo-');
  const many: Record<string, string> = {};
  for (let d = 0; d < 20; d++)
    for (let f = 0; f < 20; f++) many[`usr/share/many/d${d}/f${f}`] = `${d}/${f}\n`;
  const specs: [string, Parameters<typeof tree>[1]][] = [
    ['base', { 'usr/lib/os-release': 'ID=test\n', lib: { link: 'usr/lib' }, etc: null }],
    ['many', many],
    ['big', { 'usr/lib/big.bin': randomBytes(1 << 20) }],
    ['tool', { 'usr/bin/tool': 'tool', 'usr/bin/t': { link: 'tool' } }],
  ];
  const apks: string[] = [];
  for (const [name, files] of specs) {
    const out = join(repoDir, 'x86_64', `${name}-1-r0.apk`);
    await packApk({
      dir: tree(tmp(), files),
      info: packageInfo({ name, version: '1-r0', arch: 'x86_64' }),
      signingKey: key,
      output: out,
      sourceDateEpoch: 1700000000,
    });
    apks.push(out);
  }
  await addToIndexFile(join(repoDir, 'x86_64', 'APKINDEX.tar.gz'), apks, { signingKey: key, fresh: true });
  const keyring = new Keyring().add('test.rsa.pub', kp.publicPem);
  const repo = await loadRepository({ url: repoDir }, 'x86_64', { keyring });
  packages = resolveWorld({ repositories: [repo], world: specs.map(([n]) => n), arch: 'x86_64' }).packages;
  // The same repository over http, streamed in chunks, for every other iteration.
  const server = createServer((req, res) => {
    const p = join(repoDir, decodeURIComponent(req.url ?? '/'));
    if (!p.startsWith(repoDir) || !existsSync(p)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200);
    createReadStream(p, { highWaterMark: 16 << 10 }).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return () => new Promise<void>((r) => server.close(() => r()));
});

function run(input: WorkerInput): Promise<WorkerReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@melange2/source', '--import', 'tsx', worker, JSON.stringify(input)],
      {
        cwd: join(here, '..'),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`worker ${input.id} exited ${code}: ${err}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as WorkerReport);
    });
  });
}

const byName = (n: string) => {
  const p = packages.find((x) => x.entry.name === n);
  if (!p) throw new Error(`no package ${n}`);
  return p;
};

/** Every name under the cache's apk/ and tree/ dirs that is a temp (half-written) entry. */
function leftovers(cacheDir: string): string[] {
  return ['apk', 'tree'].flatMap((d) => readdirSync(join(cacheDir, d)).filter((n) => n.includes('.tmp-')));
}

describe('a cache shared by several processes', () => {
  it(`${PROCESSES} processes × ${ITERATIONS} simultaneous installs: every result verifies, nothing is half-written`, async () => {
    const root = tmp('cc-');
    const barrierDir = join(root, 'barrier');
    mkdirSync(barrierDir);
    const cacheDirs: string[] = [];
    let seeded = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const c = join(root, `cache-${i}`);
      cacheDirs.push(c);
      if (i % 3 === 1) {
        // A corrupt download left in place: must be moved aside (once) and refetched.
        const p = cachePaths(c, byName('big').entry.checksum);
        mkdirSync(join(c, 'apk'), { recursive: true });
        const buf = readFileSync(join(repoDir, 'x86_64', 'big-1-r0.apk'));
        buf[buf.length - 100]! ^= 1;
        writeFileSync(p.apk, buf);
        seeded += 1;
      } else if (i % 3 === 2) {
        // An unreadable manifest with a wrong tree: both must be moved aside and rebuilt.
        const p = cachePaths(c, byName('many').entry.checksum);
        tree(p.tree, { 'usr/share/many/d0/f0': 'wrong' });
        writeFileSync(p.manifest, '{"checksum":');
        seeded += 2;
      }
    }
    const started = performance.now();
    const reports = await Promise.all(
      Array.from({ length: PROCESSES }, (_, id) =>
        run({
          id,
          peers: PROCESSES,
          barrierDir,
          cacheDirs,
          packages,
          repositories: [{ url: repoDir }, { url: httpUrl }],
          arch: 'x86_64',
        }),
      ),
    );
    const ms = performance.now() - started;
    const total = (k: string) => reports.reduce((s, r) => s + (r.events[k] ?? 0), 0);
    console.log(
      `${PROCESSES} processes × ${ITERATIONS} iterations × ${packages.length} packages in ${ms.toFixed(0)} ms:`,
      JSON.stringify(
        Object.fromEntries(
          Object.keys(reports[0]!.events)
            .sort()
            .map((k) => [k, total(k)]),
        ),
      ),
    );
    expect(reports.flatMap((r) => r.failures)).toEqual([]);
    for (const r of reports) expect(r.checked).toBe(ITERATIONS * packages.length);
    for (const c of cacheDirs) expect(leftovers(c)).toEqual([]);
    // Exactly the seeded corrupt entries were moved aside: never a good one another process placed.
    expect(total('moved-aside')).toBe(seeded);
    // …and the trash holds only those (dropped temps of the losing processes are removed).
    const trash = cacheDirs.flatMap((c) =>
      existsSync(join(c, TRASH_DIR)) ? readdirSync(join(c, TRASH_DIR)) : [],
    );
    expect(trash).toHaveLength(seeded);
    // Every package was published once per cache; the other processes kept that copy.
    expect(total('downloaded:placed')).toBe(ITERATIONS * packages.length);
    expect(total('extracted:placed')).toBe(ITERATIONS * packages.length);
    // The processes really did race (they are released together by the barrier).
    expect(total('downloaded:kept-existing') + total('extracted:kept-existing')).toBeGreaterThan(0);
  }, 240_000);
});
