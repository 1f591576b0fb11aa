import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BuildkitClient,
  CancelledError,
  ConnectError,
  llb,
  marshal,
  SolveError,
  type SolveEvent,
} from '@melange2/buildkit';
import { type Arch, busyboxRootDir, client, nonce, PLATFORM, rootfs, sh, tempDir } from './helpers.js';

describe('against real buildkitd', () => {
  it.each<Arch>(['x86_64', 'aarch64'])(
    'runs a busybox rootfs from a local source: uname -m on %s',
    async (arch) => {
      const c = await client(arch);
      const out = await tempDir('uname');
      const st = rootfs(arch)
        .run({
          args: sh(`uname -m > /out/arch; echo ${nonce}`),
          mounts: [llb.bind('/out', llb.scratch())],
          customName: 'uname',
        })
        .getMount('/out');
      const r = await c.solve(marshal(st, { platform: PLATFORM[arch] }), {
        localDirs: { rootfs: await busyboxRootDir(arch) },
        exports: [{ type: 'local', dest: out }],
      });
      expect((await readFile(join(out, 'arch'), 'utf8')).trim()).toBe(arch);
      expect(r.vertices.find((v) => v.name === 'uname')?.outcome).toBe('completed');
    },
  );

  it('reports version, workers and their platforms, disk usage and prune', async () => {
    const x = await client('x86_64');
    expect((await x.info()).version).toMatch(/^v0\.\d+/);
    const workers = await x.listWorkers();
    expect(workers[0]?.platforms[0]).toEqual({ os: 'linux', architecture: 'amd64' });
    const a = await client('aarch64');
    expect((await a.listWorkers())[0]?.platforms[0]).toEqual({ os: 'linux', architecture: 'arm64' });
    const du = await x.diskUsage();
    expect(du.length).toBeGreaterThan(0);
    expect(du.every((r) => typeof r.size === 'number' && r.id !== '')).toBe(true);
    // Only a filter that matches nothing: the daemons are shared with other tests.
    expect(await x.prune({ filter: [`id==nothing-${nonce}`] })).toEqual([]);
  });

  it('fails with the address and the cause when the daemon is unreachable', async () => {
    const e1 = await BuildkitClient.connect('unix:///nonexistent/buildkitd.sock').catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(ConnectError);
    expect((e1 as Error).message).toMatch(/unix:\/\/\/nonexistent\/buildkitd\.sock.*does not exist/);
    const e2 = await BuildkitClient.connect('tcp://127.0.0.1:1', { timeoutMs: 2000 }).catch(
      (e: unknown) => e,
    );
    expect((e2 as Error).message).toMatch(/tcp:\/\/127\.0\.0\.1:1.*refused/);
    await expect(BuildkitClient.connect('http://x')).rejects.toThrow(/unsupported address/);
  });

  it('refuses a solve whose local sources have no directory, before asking the daemon', async () => {
    const c = await client('x86_64');
    const def = marshal(llb.merge([llb.local('src'), llb.local('ctx')]));
    await expect(c.solve(def, { localDirs: { ctx: '/tmp' } })).rejects.toThrow(
      /reads local source "src" but SolveOptions.localDirs has no directory/,
    );
  });

  it('a local directory that does not exist fails the solve naming it', async () => {
    const c = await client('x86_64');
    await expect(
      c.solve(marshal(llb.local('src')), { localDirs: { src: '/nonexistent/m2-dir' } }),
    ).rejects.toThrow(/sending local dir "src" \(\/nonexistent\/m2-dir\).*ENOENT/);
  });

  it('a failing step names the step, its exit code and its last 50 log lines', async () => {
    const c = await client('x86_64');
    const st = rootfs('x86_64').run({
      args: sh(`echo ${nonce}; for i in $(seq 1 80); do echo line$i; done; echo oops; exit 3`),
      customName: 'failing step',
    });
    const err = await c
      .solve(marshal(st.root()), { localDirs: { rootfs: await busyboxRootDir('x86_64') } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SolveError);
    const step = (err as SolveError).step;
    expect(step?.name).toBe('failing step');
    expect(step?.exitCode).toBe(3);
    expect(step?.logTail.length).toBe(50);
    // One stream: the daemon batches stdout and stderr separately, so their relative order is
    // only as good as its timestamps.
    expect(step?.logTail.at(-1)).toBe('oops');
    expect(step?.logTail.at(-2)).toBe('line80');
    expect(step?.logTail[0]).toBe('line32');
    expect((err as Error).message).toMatch(/step "failing step" failed with exit code 3/);
  });

  it('an aborted solve rejects with CancelledError and stops the build on the daemon', async () => {
    const c = await client('x86_64');
    const root = await busyboxRootDir('x86_64');
    // A locked cache mount is held by one running step at a time: the step below never ends by
    // itself, so the check step after it can only run once the daemon has stopped it.
    const held = llb.cache('/c', `cancel-${nonce}`, { sharing: 'locked' });
    const ac = new AbortController();
    const st = rootfs('x86_64').run({
      args: sh(`echo ${nonce}; while [ ! -e /c/never ]; do sleep 0.2; done; echo finished > /c/marker`),
      mounts: [held],
      customName: 'endless step',
    });
    const p = c.solve(
      marshal(st.root()),
      { localDirs: { rootfs: root } },
      {
        signal: ac.signal,
        onEvent: (e: SolveEvent) => {
          if (e.type === 'vertex.started' && e.vertex.name === 'endless step') ac.abort();
        },
      },
    );
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    const out = await tempDir('cancel');
    const check = rootfs('x86_64')
      .run({
        args: sh(`cat /c/marker > /out/m 2>/dev/null || echo missing > /out/m; echo ${nonce}-check`),
        mounts: [held, llb.bind('/out', llb.scratch())],
      })
      .getMount('/out');
    // Had the daemon kept running the endless step, this solve would wait for the mount until the
    // test times out.
    await c.solve(marshal(check), { localDirs: { rootfs: root }, exports: [{ type: 'local', dest: out }] });
    expect((await readFile(join(out, 'm'), 'utf8')).trim()).toBe('missing');
  });
});
