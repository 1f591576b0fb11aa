import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { llb, marshal } from '@melange2/buildkit';
import {
  bindLocalSources,
  decode,
  decodePacket,
  decodeStat,
  encodePacket,
  encodeStat,
  fsutil,
  GoMode,
  goModeFromUnix,
  kindOf,
  PacketType,
  PatternMatcher,
  pb,
  type Stat,
  unixPerm,
  walk,
} from '@melange2/buildkit/internal';
import { tempDir } from './helpers.js';

describe('walk order (what fsutil requires)', () => {
  it('is pre-order DFS with siblings sorted bytewise per directory, not by full path', async () => {
    const d = await tempDir('walk');
    await mkdir(join(d, 'testproj'));
    await writeFile(join(d, 'testproj', 'Program.cs'), '');
    await mkdir(join(d, 'testproj.sub'));
    await writeFile(join(d, 'testproj.sub', 'a'), '');
    await writeFile(join(d, 'B'), '');
    await writeFile(join(d, 'a'), '');
    await writeFile(join(d, 'ä'), '');
    await symlink('a', join(d, 'l'));
    const got: string[] = [];
    for await (const e of walk(d)) got.push(e.rel);
    expect(got).toEqual([
      'B',
      'a',
      'l',
      'testproj',
      'testproj/Program.cs',
      'testproj.sub',
      'testproj.sub/a',
      'ä',
    ]);
  });

  it('sends parents of included files, and nothing an exclude removes', async () => {
    const d = await tempDir('walkpat');
    await mkdir(join(d, 'src', 'deep'), { recursive: true });
    await writeFile(join(d, 'src', 'deep', 'x.go'), '');
    await writeFile(join(d, 'src', 'deep', 'x.txt'), '');
    await writeFile(join(d, 'src', 'y.go'), '');
    await writeFile(join(d, 'top.go'), '');
    const got: string[] = [];
    for await (const e of walk(d, { include: ['**/*.go'], exclude: ['src/y.go'] })) got.push(e.rel);
    expect(got).toEqual(['src', 'src/deep', 'src/deep/x.go', 'top.go']);
  });

  it('sends with include patterns exactly what a walk of everything would filter, without descending where none can match', async () => {
    const d = await tempDir('walkprune');
    for (const f of [
      'sha256:aa',
      'sha256:bb',
      'gomodcache/cache/download/x/@v/v1.zip',
      'gomodcache/golang.org/x/sys@v1/unix/a.go',
      'git/github.com/a/b.git/HEAD',
      'git/github.com/a/c.git/HEAD',
      'by-name/zlib/zlib.tar.gz',
      'deep/a/b/c/d.txt',
    ]) {
      await mkdir(join(d, f, '..'), { recursive: true });
      await writeFile(join(d, f), '');
    }
    const all: string[] = [];
    for await (const e of walk(d)) all.push(e.rel);
    for (const include of [
      ['sha256:aa'],
      ['sha256:*', 'git/github.com/a/b.git'],
      ['git/*/a/c.git'],
      ['**/HEAD'],
      ['deep/a/b'],
      ['by-name/[z]lib', 'gomodcache'],
      ['!gomodcache', 'deep/*/b/c'],
    ]) {
      const m = new PatternMatcher(include);
      const hit = all.filter((r) => m.matches(r));
      const want = all.filter((r) => hit.some((h) => h === r || h.startsWith(`${r}/`)));
      const got: string[] = [];
      for await (const e of walk(d, { include })) got.push(e.rel);
      expect(got, include.join(' ')).toEqual(want);
    }
    const m = new PatternMatcher(['sha256:aa', 'git/*/a/c.git', 'by-name/[z]lib']);
    expect(m.mayMatchBelow('gomodcache')).toBe(false);
    expect(m.mayMatchBelow('git')).toBe(true);
    expect(m.mayMatchBelow('git/github.com')).toBe(true);
    expect(m.mayMatchBelow('git/github.com/b')).toBe(false);
    expect(m.mayMatchBelow('by-name')).toBe(true);
    expect(m.mayMatchBelow('by-name/y')).toBe(false);
    expect(new PatternMatcher(['**/HEAD']).mayMatchBelow('gomodcache')).toBe(true);
    expect(new PatternMatcher(['!x', 'y']).mayMatchBelow('x')).toBe(false);
  });

  it('reports Go FileMode bits and nanosecond mtimes with uid/gid 0', async () => {
    const d = await tempDir('walkmode');
    await mkdir(join(d, 'dir'), { mode: 0o750 });
    const got = [];
    for await (const e of walk(d)) got.push(e.stat);
    expect(got[0]?.mode).toBe((GoMode.Dir | 0o750) >>> 0);
    expect(got[0]?.uid).toBe(0);
    expect(typeof got[0]?.modTime).toBe('bigint');
  });
});

describe('patterns', () => {
  it('follows dockerignore rules', () => {
    const m = new PatternMatcher(['*.log', '!keep.log', 'build', 'docs/**/*.md', '/abs']);
    expect(m.matches('a.log')).toBe(true);
    expect(m.matches('keep.log')).toBe(false);
    expect(m.matches('sub/a.log')).toBe(false);
    expect(m.matches('build/x/y')).toBe(true);
    expect(m.matches('docs/a/b/c.md')).toBe(true);
    expect(m.matches('docs/c.md')).toBe(true);
    expect(m.matches('abs')).toBe(true);
    expect(m.matches('src/main.go')).toBe(false);
  });
  it('rejects patterns that leave the directory', () => {
    expect(() => new PatternMatcher(['../x'])).toThrow(/outside/);
  });
});

describe('Go FileMode', () => {
  it('maps unix modes to Go bits and back', () => {
    expect(goModeFromUnix(0o40755)).toBe(0x800001ed);
    expect(goModeFromUnix(0o120777)).toBe((GoMode.Symlink | 0o777) >>> 0);
    expect(goModeFromUnix(0o100644)).toBe(0o644);
    expect(goModeFromUnix(0o104755)).toBe((GoMode.Setuid | 0o755) >>> 0);
    expect(goModeFromUnix(0o20666)).toBe((GoMode.Device | GoMode.CharDevice | 0o666) >>> 0);
    expect(unixPerm((GoMode.Setgid | GoMode.Sticky | 0o775) >>> 0)).toBe(0o3775);
    expect(kindOf(0x800001ed)).toBe('dir');
    expect(kindOf(0o600)).toBe('file');
  });
});

describe('fsutil packet codec', () => {
  const stat: Stat = {
    path: 'a/b',
    mode: 0x800001ed,
    uid: 0,
    gid: 0,
    size: 0,
    modTime: 1_700_000_000_123_456_789n,
    linkname: '',
    devmajor: 0,
    devminor: 0,
    xattrs: { 'user.x': Buffer.from('v') },
  };
  it('matches protobufjs on the wire', () => {
    const ours = encodePacket({ type: PacketType.STAT, id: 0, stat });
    const ref = fsutil.Packet.toObject(fsutil.Packet.decode(ours), { longs: String }) as Record<
      string,
      Record<string, unknown>
    >;
    expect(ref['stat']?.['path']).toBe('a/b');
    expect(ref['stat']?.['modTime']).toBe('1700000000123456789');
    expect(ref['stat']?.['mode']).toBe(0x800001ed);
    expect(decodeStat(encodeStat(stat))).toEqual(stat);
  });
  it('round-trips DATA, REQ, FIN and the empty STAT terminator', () => {
    const data = Buffer.from('hello');
    expect(decodePacket(encodePacket({ type: PacketType.DATA, id: 7, data }))).toEqual({
      type: 2,
      id: 7,
      data,
    });
    expect(decodePacket(encodePacket({ type: PacketType.REQ, id: 300 }))).toEqual({ type: 1, id: 300 });
    expect(encodePacket({ type: PacketType.STAT, id: 0 }).length).toBe(0);
    expect(decodePacket(encodePacket({ type: PacketType.FIN, id: 0 }))).toEqual({ type: 3, id: 0 });
  });
});

describe('binding local sources to a session', () => {
  it('adds local.session, renames downstream digests and maps them back', () => {
    const st = llb
      .image('busybox')
      .file(llb.copy(llb.local('ctx'), '/a', '/a'))
      .run({ args: ['true'] })
      .root();
    const def = marshal(st);
    const { def: bound, toOriginal } = bindLocalSources(def, 'sess123');
    const src = bound
      .ops()
      .find(
        (o) =>
          o.op.op === 'source' &&
          String((o.op['source'] as { identifier: string }).identifier).startsWith('local'),
      );
    expect((src?.op['source'] as { attrs: Record<string, string> } | undefined)?.attrs['local.session']).toBe(
      'sess123',
    );
    // The image source is untouched; the local source, the copy, the exec and the terminal are renamed.
    expect(bound.def.filter((b, i) => Buffer.from(b).equals(Buffer.from(def.def[i] ?? [])))).toHaveLength(1);
    expect(toOriginal.get(bound.digest)).toBe(def.digest);
    const ops = bound.ops();
    expect(ops.at(-1)?.op.inputs[0]?.digest).toBe(bound.digest);
    for (const o of ops)
      for (const i of o.op.inputs) expect(ops.some((x) => x.digest === i.digest)).toBe(true);
    expect(Object.keys(bound.metadata).every((k) => ops.some((o) => o.digest === k))).toBe(true);
  });
  it('keeps 64-bit values of re-encoded ops exact', () => {
    const when = new Date('2024-05-06T07:08:09.123Z');
    const def = marshal(llb.scratch().file(llb.copy(llb.local('ctx'), '/a', '/a', { timestamp: when })));
    const { def: bound } = bindLocalSources(def, 's');
    const file = bound.def
      .map((b) => decode<Record<string, unknown>>(pb.Op, b, { longsAsString: true }))
      .find((o) => o['op'] === 'file') as { file: { actions: { copy: { timestamp: string } }[] } };
    expect(BigInt(file.file.actions[0]?.copy.timestamp ?? '0')).toBe(BigInt(when.getTime()) * 1_000_000n);
  });

  it('leaves definitions without local sources alone', () => {
    const def = marshal(
      llb
        .image('busybox')
        .run({ args: ['true'] })
        .root(),
    );
    expect(bindLocalSources(def, 's').def).toBe(def);
  });
});

describe('in-place DATA packets', () => {
  it('encode exactly like the generic encoder', async () => {
    const { DATA_HEADROOM, dataPacketInPlace } = await import('@melange2/buildkit/internal');
    for (const [id, len] of [
      [0, 3],
      [1, 5],
      [300, 200],
      [70_000, 1 << 20],
    ] as const) {
      const buf = Buffer.alloc(DATA_HEADROOM + len, 7);
      const data = Buffer.alloc(len, 7);
      expect(dataPacketInPlace(buf, id, len).equals(encodePacket({ type: PacketType.DATA, id, data }))).toBe(
        true,
      );
    }
  });
});
