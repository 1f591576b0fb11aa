import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { llb, marshal, type SolveResult } from '@melange2/buildkit';
import { busyboxRootDir, client, nonce, rootfs, sh, tempDir } from './helpers.js';

function outcome(r: SolveResult, name: string): string | undefined {
  return r.vertices.find((v) => v.name === name)?.outcome;
}

describe('caching (real buildkitd)', () => {
  it('a second identical solve is all cached; changing one input re-runs only its dependents', async () => {
    const c = await client('x86_64');
    const root = await busyboxRootDir('x86_64');
    const ctx = await tempDir('ctx');
    await writeFile(join(ctx, 'a.txt'), `a ${nonce}\n`);
    await writeFile(join(ctx, 'b.txt'), `b ${nonce}\n`);
    const base = rootfs('x86_64');
    const src = llb.local('ctx');
    const useA = base
      .file(llb.copy(src, '/a.txt', '/a.txt'), { customName: 'copy a' })
      .run({
        args: sh('cat /a.txt > /out/a'),
        mounts: [llb.bind('/out', llb.scratch())],
        customName: 'use a',
      })
      .getMount('/out');
    const useB = base
      .file(llb.copy(src, '/b.txt', '/b.txt'), { customName: 'copy b' })
      .run({
        args: sh('cat /b.txt > /out/b'),
        mounts: [llb.bind('/out', llb.scratch())],
        customName: 'use b',
      })
      .getMount('/out');
    const def = marshal(llb.merge([useA, useB], { customName: 'merge' }));
    const solve = () => c.solve(def, { localDirs: { rootfs: root, ctx } });

    const first = await solve();
    expect(outcome(first, 'use a')).toBe('completed');
    expect(outcome(first, 'use b')).toBe('completed');

    const second = await solve();
    // Local sources are re-read in every session by design; everything built from them is cached.
    const nonLocal = second.vertices.filter((v) => !v.name.startsWith('local://'));
    expect(nonLocal.length).toBeGreaterThanOrEqual(5);
    expect(nonLocal.filter((v) => v.outcome !== 'cached')).toEqual([]);

    await writeFile(join(ctx, 'b.txt'), `b changed ${nonce}\n`);
    const third = await solve();
    expect(outcome(third, 'copy a')).toBe('cached');
    expect(outcome(third, 'use a')).toBe('cached');
    expect(outcome(third, 'use b')).toBe('completed');
  });

  it("a cache mount's content persists across solves", async () => {
    const c = await client('x86_64');
    const root = await busyboxRootDir('x86_64');
    const id = `persist-${nonce}`;
    await c.solve(
      marshal(
        rootfs('x86_64')
          .run({ args: sh(`echo ${nonce} > /cache/v`), mounts: [llb.cache('/cache', id)] })
          .root(),
      ),
      { localDirs: { rootfs: root } },
    );
    const out = await tempDir('persist');
    await c.solve(
      marshal(
        rootfs('x86_64')
          .run({
            args: sh(
              `cat /cache/v > /out/v # ${nonce}: the cache mount id is not part of the step's cache key`,
            ),
            mounts: [llb.cache('/cache', id), llb.bind('/out', llb.scratch())],
          })
          .getMount('/out'),
      ),
      { localDirs: { rootfs: root }, exports: [{ type: 'local', dest: out }] },
    );
    expect((await readFile(join(out, 'v'), 'utf8')).trim()).toBe(nonce);
  });

  it('a secret is readable in the step, absent from the Definition, and not part of the cache key', async () => {
    const c = await client('x86_64');
    const root = await busyboxRootDir('x86_64');
    const value = `s3cr3t-${nonce}`;
    const step = (ignoreCache: boolean) =>
      rootfs('x86_64')
        .run({
          args: sh(`cat /run/secrets/token > /out/token; echo ${nonce}`),
          mounts: [llb.secret('/run/secrets/token', 'token'), llb.bind('/out', llb.scratch())],
          customName: 'read secret',
          ignoreCache,
        })
        .getMount('/out');
    const def = marshal(step(false));
    expect(Buffer.from(def.toBytes()).includes(Buffer.from(value))).toBe(false);
    expect(Buffer.from(def.toBytes()).includes(Buffer.from('s3cr3t'))).toBe(false);

    const run = async (secret: string, ignoreCache = false) => {
      const out = await tempDir('secret');
      const r = await c.solve(ignoreCache ? marshal(step(true)) : def, {
        localDirs: { rootfs: root },
        secrets: { token: secret },
        exports: [{ type: 'local', dest: out }],
      });
      return { r, token: await readFile(join(out, 'token'), 'utf8') };
    };
    const first = await run(value);
    expect(first.token).toBe(value);
    expect(outcome(first.r, 'read secret')).toBe('completed');
    const other = await run(`${value}-rotated`);
    expect(outcome(other.r, 'read secret')).toBe('cached');
    expect(other.token).toBe(value);
    const forced = await run(`${value}-rotated`, true);
    expect(outcome(forced.r, 'read secret')).toBe('completed');
    expect(forced.token).toBe(`${value}-rotated`);
  });

  it('8 concurrent solves on one daemon, each with its own session, never mix files or outputs', async () => {
    const c = await client('x86_64');
    const root = await busyboxRootDir('x86_64');
    const runs = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const ctx = await tempDir(`conc${i}`);
        const out = await tempDir(`conc-out${i}`);
        await writeFile(join(ctx, 'id.txt'), `${i}\n`);
        await writeFile(join(ctx, `only-${i}`), `${i}`);
        return { i, ctx, out };
      }),
    );
    // Identical graphs, including the local source name: only the session tells them apart.
    const def = marshal(
      rootfs('x86_64')
        .run({
          args: sh(`cp /ctx/* /out/; ls /ctx > /out/listing; echo ${nonce}`),
          mounts: [llb.bind('/ctx', llb.local('ctx'), { readonly: true }), llb.bind('/out', llb.scratch())],
        })
        .getMount('/out'),
    );
    await Promise.all(
      runs.map((r) =>
        c.solve(def, { localDirs: { rootfs: root, ctx: r.ctx }, exports: [{ type: 'local', dest: r.out }] }),
      ),
    );
    for (const r of runs) {
      expect((await readFile(join(r.out, 'id.txt'), 'utf8')).trim()).toBe(String(r.i));
      expect((await readFile(join(r.out, 'listing'), 'utf8')).trim().split('\n')).toEqual([
        'id.txt',
        `only-${r.i}`,
      ]);
    }
  });
});
