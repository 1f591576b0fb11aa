import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Definition, llb, marshal, parsePlatform } from '@melange2/buildkit';
import { decode, pb } from '@melange2/buildkit/internal';

const arm64 = parsePlatform('linux/arm64');

function sample() {
  const base = llb.image('alpine:3.20', { platform: arm64 });
  const src = llb.local('context', { include: ['src/**'], exclude: ['*.log'] });
  const built = base
    .env('A', '1')
    .dir('/work')
    .file(llb.copy(src, '/', 'src/', { createDestPath: true, followSymlinks: true }), {
      customName: 'copy sources',
    })
    .run({
      args: ['/bin/sh', '-c', 'make > /out/log'],
      env: { B: '2' },
      mounts: [
        llb.cache('/root/.cache', 'gocache', { sharing: 'locked' }),
        llb.tmpfs('/tmp'),
        llb.bind('/out', llb.scratch()),
        llb.secret('/run/secrets/token', 'token'),
      ],
      customName: 'build',
      progressGroup: { id: 'pipeline', name: 'pipeline' },
    });
  const merged = llb.merge([built.root(), built.getMount('/out')], { customName: 'merge' });
  return llb
    .diff(base, merged)
    .file(llb.mkdir('/x', 0o700).mkfile('/x/a', 0o644, 'hello').rm('/x/b', { allowNotFound: true }));
}

describe('image reference normalization', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine:latest'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['chainguard/wolfi-base', 'docker.io/chainguard/wolfi-base:latest'],
    ['cgr.dev/chainguard/wolfi-base:latest', 'cgr.dev/chainguard/wolfi-base:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest'],
    [
      'index.docker.io/library/busybox@sha256:' + 'a'.repeat(64),
      `docker.io/library/busybox@sha256:${'a'.repeat(64)}`,
    ],
  ])('%s → %s', (ref, want) => {
    expect(llb.normalizeImageRef(ref)).toBe(want);
  });
  it('rejects bad references with the reference in the message', () => {
    expect(() => llb.normalizeImageRef('docker.io/Library/x')).toThrow(/Library\/x/);
    expect(() => llb.normalizeImageRef('')).toThrow(/invalid image reference/);
  });
});

describe('marshal', () => {
  it('is byte-identical across 100 runs', () => {
    const first = marshal(sample()).toBytes();
    for (let i = 0; i < 100; i++)
      expect(Buffer.from(marshal(sample()).toBytes()).equals(Buffer.from(first))).toBe(true);
  });

  it('is byte-identical across processes', () => {
    const script = fileURLToPath(new URL('./fixtures/print-digest.ts', import.meta.url));
    // tsx as an --import hook: its CLI re-spawns node without --conditions (and would load dist/).
    const run = () =>
      execFileSync(process.execPath, ['--conditions=@melange2/source', '--import', 'tsx', script], {
        encoding: 'utf8',
      }).trim();
    const a = run();
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(run()).toBe(a);
  });

  it('puts inputs before consumers and ends with the terminal op', () => {
    const d = marshal(sample());
    const ops = d.ops();
    const pos = new Map(ops.map((o, i) => [o.digest, i]));
    ops.forEach((o, i) => {
      for (const inp of o.op.inputs) expect(pos.get(inp.digest)).toBeLessThan(i);
    });
    const term = ops[ops.length - 1]!;
    expect(term.op.op).toBeUndefined();
    expect(term.op.inputs).toEqual([{ digest: d.digest, index: 0 }]);
    expect(term.metadata?.caps).toEqual({ constraints: true, platform: true });
    expect(new Set(d.digests()).size).toBe(d.def.length);
  });

  it('round-trips through bytes', () => {
    const d = marshal(sample());
    const back = Definition.fromBytes(d.toBytes());
    expect(back.digest).toBe(d.digest);
    expect(back.digests()).toEqual(d.digests());
  });

  it('encodes an image source like Go (no zero fields, platform, empty constraints)', () => {
    const d = marshal(llb.image('busybox', { platform: arm64 }));
    expect(Buffer.from(d.def[0]!).toString('hex')).toBe(
      Buffer.concat([
        Buffer.from('1a', 'hex'),
        lenPrefixed(
          Buffer.concat([
            Buffer.from('0a', 'hex'),
            lenPrefixed(Buffer.from('docker-image://docker.io/library/busybox:latest')),
          ]),
        ),
        Buffer.from('52', 'hex'),
        lenPrefixed(Buffer.from('0a0561726d363412056c696e7578', 'hex')),
        Buffer.from('5a00', 'hex'),
      ]).toString('hex'),
    );
    // Input{index:0} is omitted on the wire: the terminal op is exactly inputs{digest}.
    expect(Buffer.from(d.def[1]!).toString('hex')).toBe(
      `0a${(2 + 71).toString(16)}0a47${Buffer.from(d.digest).toString('hex')}`,
    );
  });

  it('applies the default platform only to source and exec ops', () => {
    const st = llb
      .image('busybox')
      .run({ args: ['true'] })
      .root()
      .file(llb.mkdir('/a'));
    const ops = marshal(st, { platform: arm64 }).ops();
    const kinds = ops.map((o) => [
      o.op.op,
      (o.op['platform'] as { Architecture?: string } | null)?.Architecture,
    ]);
    expect(kinds).toEqual([
      ['source', 'arm64'],
      ['exec', 'arm64'],
      ['file', undefined],
      [undefined, undefined],
    ]);
  });

  it('changes the digest when anything in an op changes', () => {
    const a = marshal(
      llb
        .image('busybox')
        .run({ args: ['echo', 'a'] })
        .root(),
    ).digest;
    const b = marshal(
      llb
        .image('busybox')
        .run({ args: ['echo', 'b'] })
        .root(),
    ).digest;
    expect(a).not.toBe(b);
  });

  it('refuses to marshal scratch', () => {
    expect(() => marshal(llb.scratch())).toThrow(/scratch/);
  });
});

describe('exec', () => {
  it('sorts mounts by destination and numbers outputs over writable bind mounts', () => {
    const e = llb.image('busybox').run({
      args: ['true'],
      mounts: [
        llb.bind('/z', llb.scratch()),
        llb.cache('/c', 'id1'),
        llb.bind('/b', llb.image('alpine'), { readonly: true, selector: 'etc' }),
        llb.bind('/a', llb.scratch()),
        llb.secret('/s', 'sec'),
      ],
    });
    const exec = marshal(e.root())
      .ops()
      .find((o) => o.op.op === 'exec')!.op['exec'] as {
      mounts: { dest: string; output: number; input: number; mountType: number; selector: string }[];
      meta: { env: string[]; cwd: string; removeMountStubsRecursive: boolean };
    };
    expect(exec.mounts.map((m) => [m.dest, m.input, m.output, m.mountType])).toEqual([
      ['/', 0, 0, 0],
      ['/a', -1, 1, 0],
      ['/b', 1, -1, 0],
      ['/c', -1, -1, 3],
      ['/z', -1, 2, 0],
      ['/s', -1, -1, 1],
    ]);
    expect(exec.mounts[2]!.selector).toBe('etc');
    expect(exec.meta.cwd).toBe('/');
    expect(exec.meta.removeMountStubsRecursive).toBe(true);
    expect(e.getMount('/z').output()?.index).toBe(2);
    expect(() => e.getMount('/c')).toThrow(/no output/);
    expect(() => e.getMount('/nope')).toThrow(/no mount/);
  });

  it('merges state env with run env and resolves cwd', () => {
    const st = llb
      .image('busybox')
      .env('A', '1')
      .env('B', '2')
      .dir('/w')
      .run({ args: ['x'], env: { A: '3', C: '4' }, cwd: 'sub' });
    const exec = marshal(st.root()).ops()[1]!.op['exec'] as { meta: { env: string[]; cwd: string } };
    expect(exec.meta.env).toEqual(['A=3', 'B=2', 'C=4']);
    expect(exec.meta.cwd).toBe('/w/sub');
  });

  it('rejects bad mounts with a clear message', () => {
    const b = llb.image('busybox');
    expect(() => b.run({ args: [] })).toThrow(/args must not be empty/);
    expect(() => b.run({ args: ['x'], mounts: [llb.tmpfs('tmp')] })).toThrow(/must be absolute/);
    expect(() => b.run({ args: ['x'], mounts: [llb.tmpfs('/t'), llb.tmpfs('/t/')] })).toThrow(/two mounts/);
  });

  it('never puts a secret value anywhere: only its id', () => {
    const d = marshal(
      llb
        .image('busybox')
        .run({ args: ['cat', '/s'], mounts: [llb.secret('/s', 'my-id')] })
        .root(),
    );
    expect(Buffer.from(d.toBytes()).includes(Buffer.from('my-id'))).toBe(true);
  });
});

describe('file ops', () => {
  it('chains actions: each reads the previous result (n + j)', () => {
    const src = llb.image('alpine');
    const st = llb
      .image('busybox')
      .dir('/app')
      .file(
        llb
          .mkdir('d', 0o750, { makeParents: true })
          .copy(src, '/etc/passwd', 'd/', { chown: { user: 'app', group: 0 } })
          .rm('x'),
      );
    const file = marshal(st)
      .ops()
      .find((o) => o.op.op === 'file')!;
    expect(file.op.inputs.length).toBe(2);
    const actions = (file.op['file'] as { actions: Record<string, unknown>[] }).actions;
    expect(actions.map((a) => [a['input'], a['secondaryInput'], a['output'], a['action']])).toEqual([
      [0, -1, -1, 'mkdir'],
      [2, 1, -1, 'copy'],
      [3, -1, 0, 'rm'],
    ]);
    expect((actions[0]!['mkdir'] as { path: string; timestamp: number }).path).toBe('/app/d');
    const c = actions[1]!['copy'] as { dest: string; mode: number; timestamp: number; owner: unknown };
    expect(c.dest).toBe('/app/d/');
    expect(c.mode).toBe(-1);
    expect(c.timestamp).toBe(-1);
    expect(c.owner).toEqual({
      user: { byName: { name: 'app', input: 2 }, user: 'byName' },
      group: { byID: 0, user: 'byID' },
    });
  });

  it('uses -1 for a scratch base and carries a 64-bit nanosecond timestamp', () => {
    const t = new Date('2024-01-02T03:04:05.678Z');
    const st = llb.scratch().file(llb.mkfile('/f', 0o600, 'data', { timestamp: t }));
    const op = decode<Record<string, unknown>>(pb.Op, marshal(st).def[0]!, { longsAsString: true });
    const a = (op['file'] as { actions: { input: number; mkfile: { timestamp: number; data: Buffer } }[] })
      .actions[0]!;
    expect(Number(a.input)).toBe(-1);
    expect(BigInt(a.mkfile.timestamp as unknown as string)).toBe(BigInt(t.getTime()) * 1_000_000n);
    expect(a.mkfile.data.toString()).toBe('data');
  });
});

describe('sources', () => {
  it('local: patterns as JSON attrs with sorted keys', () => {
    const d = marshal(llb.local('ctx', { include: ['a<b'], exclude: ['x'], sharedKeyHint: 'k' }));
    const src = d.ops()[0]!.op['source'] as { identifier: string; attrs: Record<string, string> };
    expect(src.identifier).toBe('local://ctx');
    expect(Object.keys(src.attrs)).toEqual([
      'local.excludepatterns',
      'local.includepattern',
      'local.sharedkeyhint',
    ]);
    expect(src.attrs['local.includepattern']).toBe('["a\\u003cb"]');
  });

  it('git and http identifiers', () => {
    const g = marshal(llb.git('https://github.com/moby/buildkit.git', 'v0.18.2')).ops()[0]!.op['source'] as {
      identifier: string;
      attrs: Record<string, string>;
    };
    expect(g.identifier).toBe('git://github.com/moby/buildkit.git#v0.18.2');
    expect(g.attrs['git.fullurl']).toBe('https://github.com/moby/buildkit.git');
    const h = marshal(
      llb.http('https://example.com/a.tar.gz', { checksum: `sha256:${'0'.repeat(64)}`, perm: 0o644 }),
    ).ops()[0]!.op['source'] as { identifier: string; attrs: Record<string, string> };
    expect(h.attrs).toEqual({ 'http.checksum': `sha256:${'0'.repeat(64)}`, 'http.perm': '0644' });
    expect(() => llb.http('ftp://x')).toThrow(/not an http/);
  });

  it('merge drops scratch inputs and collapses single inputs', () => {
    const a = llb.image('alpine');
    expect(llb.merge([llb.scratch(), a])).toBe(a);
    expect(llb.merge([]).isScratch()).toBe(true);
    const m = marshal(llb.merge([a, llb.image('busybox')])).ops();
    expect(m.map((o) => o.op.op)).toEqual(['source', 'source', 'merge', undefined]);
  });
});

function lenPrefixed(b: Buffer): Buffer {
  if (b.length >= 128) throw new Error('test helper handles short fields only');
  return Buffer.concat([Buffer.from([b.length]), b]);
}

describe('git remotes', () => {
  it.each([
    ['https://github.com/moby/buildkit.git', 'git://github.com/moby/buildkit.git#v1'],
    ['git@github.com:moby/buildkit.git', 'git://github.com/moby/buildkit.git#v1'],
    ['ssh://git@github.com/moby/buildkit.git', 'git://github.com/moby/buildkit.git#v1'],
    ['git://127.0.0.1:9418/repo.git', 'git://127.0.0.1:9418/repo.git#v1'],
  ])('%s → %s', (url, id) => {
    const src = marshal(llb.git(url, 'v1')).ops()[0]?.op['source'] as { identifier: string };
    expect(src.identifier).toBe(id);
  });
  it('rejects what it cannot parse', () => {
    expect(() => llb.git('not a url')).toThrow(/cannot parse/);
  });
});
