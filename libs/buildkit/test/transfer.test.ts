import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { llb, marshal } from '@melange2/buildkit';
import { client, tempDir } from './helpers.js';
import { diffTrees, makeTree, snapshot } from './tree.js';

function tarNames(tar: Buffer): string[] {
  const names: string[] = [];
  for (let off = 0; off + 512 <= tar.length; ) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, b: number) => h.subarray(a, b).toString('utf8').replace(/\0.*$/s, '');
    const prefix = str(345, 500);
    const name = str(0, 100);
    names.push(prefix ? `${prefix}/${name}` : name);
    const size = Number.parseInt(str(124, 136).trim() || '0', 8);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

describe('local source upload and local export (real buildkitd)', () => {
  it('round-trips 10,000 small files, a 200 MB file, symlinks, empty dirs and modes unchanged', async () => {
    const src = await tempDir('tree-src');
    const dest = await tempDir('tree-dest');
    await makeTree(src, { smallFiles: 10_000, bigFileBytes: 200 << 20 });
    const c = await client('x86_64');
    const t0 = Date.now();
    const r = await c.solve(marshal(llb.local('src')), {
      localDirs: { src },
      exports: [{ type: 'local', dest }],
    });
    const ms = Date.now() - t0;
    process.stdout.write(`round trip of 10,000 files + 200 MB: ${ms} ms (${r.summary.total} vertices)\n`);
    const [a, b] = await Promise.all([snapshot(src), snapshot(dest)]);
    expect(a.size).toBeGreaterThan(10_000);
    expect(diffTrees(a, b)).toEqual([]);
  });

  it('applies include/exclude patterns from the LLB on the client side', async () => {
    const src = await tempDir('pat-src');
    const dest = await tempDir('pat-dest');
    await makeTree(src, { smallFiles: 150, bigFileBytes: 0 });
    const c = await client('x86_64');
    await c.solve(
      marshal(
        llb.local('src', {
          include: ['many/**', 'run.sh', 'testproj'],
          exclude: ['many/d001', '**/f1*.txt'],
        }),
      ),
      {
        localDirs: { src },
        exports: [{ type: 'local', dest }],
      },
    );
    const got = [...(await snapshot(dest)).keys()].sort();
    expect(got).toContain('run.sh');
    expect(got).toContain('testproj/Program.cs');
    expect(got).toContain('many/d000/f0.txt');
    expect(got).not.toContain('many/d000/f1.txt');
    expect(got).not.toContain('many/d000/f15.txt');
    expect(got.some((p) => p.startsWith('many/d001'))).toBe(false);
    expect(got).not.toContain('testproj.sub');
    expect(got).not.toContain('big.bin');
  });

  it('exports a tar stream and a tar file', async () => {
    const src = await tempDir('tar-src');
    await makeTree(src, { smallFiles: 20, bigFileBytes: 0 });
    const c = await client('x86_64');
    const chunks: Buffer[] = [];
    const stream = new PassThrough();
    stream.on('data', (b: Buffer) => chunks.push(b));
    const out = await tempDir('tar-out');
    await c.solve(marshal(llb.local('src')), {
      localDirs: { src },
      exports: [{ type: 'tar', stream }],
    });
    const names = tarNames(Buffer.concat(chunks));
    expect(names).toContain('run.sh');
    expect(names).toContain('many/d000/f19.txt');
    expect(names).toContain('link-rel');
    const { readFile } = await import('node:fs/promises');
    await c.solve(marshal(llb.local('src')), {
      localDirs: { src },
      exports: [{ type: 'tar', dest: `${out}/x.tar` }],
    });
    expect(tarNames(await readFile(`${out}/x.tar`))).toContain('testproj.sub/x');
  });
});
