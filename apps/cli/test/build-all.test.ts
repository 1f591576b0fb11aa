import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey } from '@melange2/apk';
import { logDir } from '@melange2/cli/internal';
import { LocalLogStore } from '@melange2/protocol';
import { runCli } from './cli-helpers-apk.js';
import { osRunArgs } from './test-ports.js';
import { apkFile, indexNames, OS_BUILT, OS_REPO, type OsBootstrap, osBootstrap } from '@melange2/test/os';

const d = inject('daemons');

describe('melange2-orch build-all (embedded) on testdata/os', () => {
  let b: OsBootstrap;
  let out: string;
  const args = () => osRunArgs(b, out, d.buildkit);

  beforeAll(async () => {
    b = await osBootstrap(['x86_64', 'aarch64']);
    out = join(b.dir, 'packages');
  });

  it('builds both arches dependencies first, fails broken, skips its dependent, reports the bad config', async () => {
    const r = await runCli(['build-all', OS_REPO, '--arch', 'x86_64,aarch64', ...args()]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/left out: bad-config\.yaml:9: invalid YAML/);
    expect(r.err).toMatch(/cycle: x86_64: cycle-a/);
    expect(r.err).toMatch(
      /x86_64 broken-1\.0\.0-r0 FAILED: solve failed: .*step "compile" failed with exit code 3/,
    );
    expect(r.err).toMatch(/\| error: this package does not build/);
    expect(r.err).toMatch(/aarch64 needs-broken-1\.0\.0-r0 skipped: dependency failed: broken/);
    expect(r.out).toMatch(/^ARCH +PACKAGE +VERSION +RESULT/m);
    expect(r.out).toMatch(/20 built, 2 failed, 4 skipped, 0 up to date; 22 dispatched/);
    expect(r.err).toMatch(
      /x86_64 uses-bad-config-1\.0\.0-r0 skipped: needs bad-config, whose config bad-config\.yaml does not parse/,
    );
    for (const arch of ['x86_64', 'aarch64']) {
      expect(indexNames(join(out, arch, 'APKINDEX.tar.gz'), b.key)).toEqual(OS_BUILT);
      for (const n of OS_BUILT)
        expect(existsSync(join(out, arch, `${n}-${n === 'fancy-sh' ? '2' : '1'}.0.0-r0.apk`))).toBe(true);
      // greeter's environment had the libgreet-dev built in this run, for its own arch.
      expect(await apkFile(join(out, arch, 'greeter-1.0.0-r0.apk'), 'usr/share/greeter/built-with')).toBe(
        `marker libgreet-1.0.0-r0 arch ${arch}\n`,
      );
      expect(await apkFile(join(out, arch, 'motd-1.0.0-r0.apk'), 'etc/motd')).toBe(
        'welcome to melange2-os\n',
      );
    }
    // Every dispatched build kept its full log; the failed one has its step's output and exit code.
    const logs = new LocalLogStore(logDir(out));
    const run = (await logs.runs())[0]!.runId;
    const refs = await logs.list(run);
    expect(refs).toHaveLength(22);
    expect(refs.every((x) => x.state !== 'running' && x.digest)).toBe(true);
    const broken = await runCli(['logs', 'broken', '--arch', 'x86_64', '--out-dir', out]);
    expect(broken.out).toMatch(/about to fail/);
    expect(broken.out).toMatch(/error: this package does not build/);
    expect(broken.out).toMatch(/exit code: 3/);
    const gz = refs.map((x) => x.size ?? 0);
    process.stderr.write(
      `testdata/os logs: ${refs.length} builds, gzip bytes per build mean ${Math.round(gz.reduce((a, x) => a + x, 0) / gz.length)}, max ${Math.max(...gz)}; text mean ${Math.round(refs.reduce((a, x) => a + (x.bytes ?? 0), 0) / refs.length)}\n`,
    );
    // Nothing is left in staging once everything is published.
    expect(execFileSync('find', [join(out, '.staging'), '-type', 'f'], { encoding: 'utf8' })).toBe('');
  });

  it('dispatches 0 builds on an unchanged repository and says why', async () => {
    const r = await runCli(['build-all', OS_REPO, '--arch', 'x86_64,aarch64', ...args()]);
    expect(r.out).toMatch(
      /0 built, 2 failed, 4 skipped, 20 up to date \(x86_64 10, aarch64 10\); 0 dispatched/,
    );
    expect(r.out).toMatch(/broken .*failed before with the same input; --retry-failed builds it again/);
    expect(r.code).toBe(1);
  });

  it('--changed-since --with-dependents: the change and its dependents, with early cutoff unless =all', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'm2-os-git-'));
    cpSync(OS_REPO, repo, { recursive: true });
    const git = (...a: string[]) =>
      execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...a], {
        cwd: repo,
        encoding: 'utf8',
      });
    git('init', '-q');
    git('add', '.');
    git('commit', '-qm', 'os');
    const file = join(repo, 'chain-a.yaml');
    const edit = (from: string, to: string) =>
      writeFileSync(file, readFileSync(file, 'utf8').replace(from, to));
    // chain-a now provides a new name: chain-b must rebuild; chain-b's provides do not change: chain-c is cut off.
    edit('version: 1.0.0', 'version: 1.1.0\n  dependencies:\n    provides:\n      - chain-api=1');
    const run = (dependents: string) =>
      runCli(['build-all', repo, '--arch', 'x86_64', '--changed-since', 'HEAD', dependents, ...args()]);
    const r = await run('--with-dependents');
    expect(r.err).toMatch(/3 build\(s\) for x86_64/);
    expect(r.out).toMatch(/x86_64 +chain-a +1\.1\.0-r0 +succeeded/);
    expect(r.out).toMatch(/x86_64 +chain-b +1\.0\.0-r0 +succeeded/);
    expect(r.out).toMatch(
      /x86_64 +chain-c +1\.0\.0-r0 +up-to-date .*early cutoff: the provides of chain-b did not change/,
    );
    expect(r.out).toMatch(/2 built, 0 failed, 0 skipped, 1 cut off/);
    expect(r.code).toBe(1); // bad-config is still left out

    git('add', '.');
    git('commit', '-qm', 'chain-a 1.1.0');
    edit('version: 1.1.0', 'version: 1.2.0');
    const cut = await run('--with-dependents');
    expect(cut.out).toMatch(/1 built, 0 failed, 0 skipped, 2 cut off/);
    git('add', '.');
    git('commit', '-qm', 'chain-a 1.2.0');
    edit('version: 1.2.0', 'version: 1.3.0');
    const all = await run('--with-dependents=all');
    expect(all.out).toMatch(/x86_64 +chain-c +1\.0\.0-r0 +succeeded .*dependency changed: chain-b/);
    expect(all.out).toMatch(/3 built, 0 failed, 0 skipped, 0 up to date/);
  });

  it('a new signing key: each index is signed again with it at start, nothing rebuilt', async () => {
    const keys = join(b.dir, 'rotated');
    expect((await runCli(['keygen', '--dir', keys, '--name', 'rotated', '--key-size', '2048'])).code).toBe(0);
    const rotated = args().map((a) => (a === b.keyPath ? join(keys, 'rotated.rsa') : a));
    const r = await runCli(['build-all', OS_REPO, '--arch', 'x86_64,aarch64', ...rotated]);
    expect(r.out).toMatch(/; 0 dispatched/);
    for (const arch of ['x86_64', 'aarch64']) {
      expect(r.err).toContain(`${arch}: index signed again with rotated.rsa.pub`);
      const key = loadSigningKey(join(keys, 'rotated.rsa'));
      // Verifies with the new key only (the --changed-since test above added versions of the chain).
      expect(indexNames(join(out, arch, 'APKINDEX.tar.gz'), key)).toEqual(expect.arrayContaining(OS_BUILT));
    }
  });

  it('refuses bad flags with usage errors', async () => {
    expect((await runCli(['build-all', OS_REPO, '--jobs', '0'])).code).toBe(2);
    expect((await runCli(['build-all', OS_REPO, '--order', 'random'])).err).toMatch(
      /--order: expected cp-unlock, cp-mix, critical-path or fifo/,
    );
    expect((await runCli(['build-all', join(OS_REPO, 'nope')])).code).toBe(2);
    expect((await runCli(['build-all', OS_REPO, '--arch', 'sparc'])).err).toMatch(
      /unknown architecture "sparc"/,
    );
  });
});
