// One build-all per --out-dir: real processes of the built CLI against the real buildkitd.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { indexNames, OS_BUILT, OS_REPO, type OsBootstrap, osBootstrap, ROOT } from '@melange2/test/os';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { Proc } from './processes.js';

const d = inject('daemons');
const BIN = join(ROOT, 'apps', 'cli', 'bin', 'melange2-orch.js');
const BUILT_CLI = existsSync(join(ROOT, 'apps', 'cli', 'dist', 'index.js'));
if (!BUILT_CLI) console.warn('out-dir-lock: skipped, the CLI is not built (npx nx run-many -t build)');
// Two testdata/os runs one after the other, on a loaded machine.
const TIMEOUT = { timeout: 240_000 };
const LOCK = '.melange2-lock';

describe.skipIf(!BUILT_CLI)('one build-all per --out-dir (built CLI)', () => {
  let b: OsBootstrap;
  let out: string;
  const procs: Proc[] = [];

  beforeAll(async () => {
    b = await osBootstrap(['x86_64']);
    out = join(b.dir, 'packages');
  });
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail')
      for (const p of procs) console.error(`--- ${p.name} stderr\n${p.stderr.slice(-4000)}`);
    await Promise.all(procs.splice(0).map((p) => p.kill()));
  });
  afterAll(() => {
    if (b) rmSync(b.dir, { recursive: true, force: true });
  });

  const buildAll = (name: string, extra: readonly string[] = []) => {
    const args = [
      ...['build-all', OS_REPO, '--arch', 'x86_64', '--out-dir', out, '--no-parse-cache'],
      ...['--signing-key', b.keyPath, '--repository-append', b.repo, '--apk-cache-dir', b.cacheDir],
      ...['--buildkit-addr', `x86_64=${d.buildkit.x86_64}`, ...extra],
    ];
    const p = new Proc(name, spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    procs.push(p);
    return p;
  };
  /** A lock record as a run on this host writes it. */
  const writeLock = (pid: number) =>
    writeFileSync(
      join(out, LOCK),
      `${JSON.stringify({ pid, host: hostname(), startedAt: '2026-01-01T00:00:00.000Z' })}\n`,
    );

  it(
    'two concurrent build-alls into one out dir: the second waits for the first, no false failure, a complete signed index',
    TIMEOUT,
    async () => {
      const runs = [buildAll('first'), buildAll('second')];
      // testdata/os exits 1 on purpose (broken fails, bad-config is left out).
      expect(await Promise.all(runs.map((p) => p.exit(200_000)))).toEqual([1, 1]);
      const waited = runs.filter((p) =>
        /waiting for .*\.melange2-lock: another build-all holds it/.test(p.stderr),
      );
      expect(waited).toHaveLength(1);
      expect(waited[0]!.stderr).toMatch(new RegExp(`\\(pid \\d+ on ${hostname()}, started \\S+\\)`));
      const [ran, after] = waited[0] === runs[0] ? [runs[1]!, runs[0]!] : [runs[0]!, runs[1]!];
      // Only the failure testdata/os has on purpose, in both.
      for (const p of runs) {
        expect(p.stderr).not.toMatch(/publish failed|ENOENT/);
        expect(p.stdout).not.toMatch(/^x86_64\s+(?!broken\s)\S+\s+\S+\s+failed/m);
      }
      expect(ran.stdout).toMatch(/10 built, 1 failed/);
      expect(after.stdout).toMatch(/0 built, 1 failed, \d+ skipped, 10 up to date/);
      // Every package on disk is in the signed index, and the other way round.
      const apks = readdirSync(join(out, 'x86_64'))
        .filter((f) => f.endsWith('.apk'))
        .map((f) => f.replace(/-\d[^-]*-r\d+\.apk$/, ''))
        .sort();
      expect(apks).toEqual(OS_BUILT);
      expect(indexNames(join(out, 'x86_64', 'APKINDEX.tar.gz'), b.key)).toEqual(OS_BUILT);
      expect(existsSync(join(out, LOCK))).toBe(false);
    },
  );

  it('the lock of a process that is gone is taken over', TIMEOUT, async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    writeLock(dead);
    const p = buildAll('after-crash', ['--no-wait']);
    expect(await p.exit(200_000)).toBe(1);
    expect(p.stderr).toMatch(
      new RegExp(`took over .*\\.melange2-lock: its holder is gone \\(pid ${dead} on `),
    );
    expect(p.stdout).toMatch(/10 up to date/);
    expect(existsSync(join(out, LOCK))).toBe(false);
  });

  it('--no-wait refuses a directory held by a live run at once, naming the holder', TIMEOUT, async () => {
    // This test process stands for the run that holds it.
    writeLock(process.pid);
    const held = readFileSync(join(out, LOCK), 'utf8');
    try {
      const p = buildAll('refused', ['--no-wait']);
      expect(await p.exit()).toBe(1);
      expect(p.stderr).toMatch(
        new RegExp(
          `^melange2-orch: .*\\.melange2-lock: the output directory is in use by another build-all \\(pid ${process.pid} on ${hostname()}, started 2026-01-01T00:00:00\\.000Z\\)`,
          'm',
        ),
      );
      expect(p.stderr).not.toMatch(/^run /m);
      expect(readFileSync(join(out, LOCK), 'utf8')).toBe(held);
    } finally {
      rmSync(join(out, LOCK), { force: true });
    }
  });
});
