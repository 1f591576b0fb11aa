import { describe, expect, it } from 'vitest';
import {
  type IndexEntry,
  packageInfo,
  type ResolverRepository,
  resolveWorld,
  UnsatisfiableError,
} from '@melange2/apk';

const e = (spec: string, extra: Partial<IndexEntry> = {}): IndexEntry => {
  const i = spec.lastIndexOf('-', spec.lastIndexOf('-') - 1);
  return {
    ...packageInfo({ name: spec.slice(0, i), version: spec.slice(i + 1), arch: 'x86_64', size: 1 }),
    checksum: `Q1${spec}`,
    fileSize: 1,
    ...extra,
  };
};
const repo = (name: string, entries: IndexEntry[], tag?: string): ResolverRepository =>
  tag ? { name, entries, tag } : { name, entries };
const names = (r: ReturnType<typeof resolveWorld>) =>
  r.packages.map((p) => `${p.entry.name}-${p.entry.version}`);
const err = (f: () => unknown): string => {
  try {
    f();
  } catch (x) {
    expect(x).toBeInstanceOf(UnsatisfiableError);
    return (x as Error).message;
  }
  throw new Error('expected an error');
};

const main = repo('main', [
  e('busybox-1.36.1-r0', { provides: ['cmd:sh=1.36.1-r0', '/bin/sh'] }),
  e('busybox-1.35.0-r0', { provides: ['cmd:sh=1.35.0-r0'] }),
  e('glibc-2.40-r0', { provides: ['so:libc.so.6=6'] }),
  e('gcc-14.2.0-r3', { depends: ['so:libc.so.6', 'binutils'] }),
  e('binutils-2.43-r0', { depends: ['so:libc.so.6'] }),
  e('build-base-1-r8', { depends: ['gcc>=15', 'busybox'] }),
  e('make-4.4-r0', { depends: ['so:libc.so.6', 'cmd:sh'] }),
  e('mail-a-1-r0', { provides: ['mailreader'], providerPriority: 1 }),
  e('mail-b-1-r0', { provides: ['mailreader'], providerPriority: 2 }),
  e('dash-0.5-r0', { provides: ['/bin/sh', 'cmd:sh=0.5-r0'] }),
  e('make-doc-4.4-r0', { installIf: ['make=4.4-r0', 'docs'] }),
  e('docs-1-r0'),
  e('aa-1-r0', { depends: ['bb'] }),
  e('bb-1-r0', { depends: ['aa'] }),
  e('nogcc-1-r0', { depends: ['!gcc'] }),
  e('armonly-1-r0', { arch: 'aarch64' }),
]);

describe('resolveWorld', () => {
  it('picks the highest version and puts dependencies first', () => {
    const r = resolveWorld({ repositories: [main], world: ['gcc'], arch: 'x86_64' });
    expect(names(r)).toEqual(['glibc-2.40-r0', 'binutils-2.43-r0', 'gcc-14.2.0-r3']);
    expect(names(resolveWorld({ repositories: [main], world: ['busybox'] }))).toEqual(['busybox-1.36.1-r0']);
    expect(names(resolveWorld({ repositories: [main], world: ['busybox<1.36'] }))).toEqual([
      'busybox-1.35.0-r0',
    ]);
  });
  it('resolves so: and cmd: provides, preferring the highest provided version', () => {
    const r = resolveWorld({ repositories: [main], world: ['make'] });
    expect(names(r)).toEqual(['glibc-2.40-r0', 'busybox-1.36.1-r0', 'make-4.4-r0']);
  });
  it('prefers a real name over a provide, then provider_priority for virtuals', () => {
    expect(names(resolveWorld({ repositories: [main], world: ['mailreader'] }))).toEqual(['mail-b-1-r0']);
    const withReal = repo('x', [e('mailreader-0.1-r0'), e('mail-c-9-r0', { provides: ['mailreader=9'] })]);
    expect(names(resolveWorld({ repositories: [withReal], world: ['mailreader'] }))).toEqual([
      'mailreader-0.1-r0',
    ]);
  });
  it('does not pick a second provider when one is already selected', () => {
    const r = resolveWorld({ repositories: [main], world: ['dash', 'make'] });
    expect(names(r)).toContain('dash-0.5-r0');
    expect(names(r)).not.toContain('busybox-1.36.1-r0');
  });
  it('names the chain of an unsatisfiable world', () => {
    expect(err(() => resolveWorld({ repositories: [main], world: ['build-base'] }))).toBe(
      'build-base → gcc>=15: only gcc 14.2.0-r3 in main',
    );
    expect(err(() => resolveWorld({ repositories: [main], world: ['nope'] }))).toBe(
      'nope: no package named or providing nope in main',
    );
  });
  it('honours conflicts from the world and from packages', () => {
    expect(err(() => resolveWorld({ repositories: [main], world: ['!gcc', 'gcc'] }))).toMatch(
      /gcc: gcc-14.2.0-r3 conflicts with !gcc required by world/,
    );
    expect(err(() => resolveWorld({ repositories: [main], world: ['gcc', 'nogcc'] }))).toMatch(
      /nogcc: nogcc-1-r0 conflicts with installed gcc-14.2.0-r3/,
    );
  });
  it('uses pinned repositories only when asked, and for the pinned package’s dependencies', () => {
    const edge = repo(
      'edge',
      [e('gcc-15.1.0-r0', { depends: ['binutils>=2.44'] }), e('binutils-2.44-r0')],
      'edge',
    );
    expect(names(resolveWorld({ repositories: [main, edge], world: ['gcc'] }))).toContain('gcc-14.2.0-r3');
    const r = resolveWorld({ repositories: [main, edge], world: ['gcc@edge'] });
    expect(names(r)).toEqual(['binutils-2.44-r0', 'gcc-15.1.0-r0']);
    expect(r.packages[1]!.tag).toBe('edge');
    expect(err(() => resolveWorld({ repositories: [main, edge], world: ['binutils>=2.44'] }))).toMatch(
      /binutils>=2.44: only binutils 2.43-r0 in main/,
    );
  });
  it('adds install_if packages once their conditions hold', () => {
    expect(names(resolveWorld({ repositories: [main], world: ['make'] }))).not.toContain('make-doc-4.4-r0');
    expect(names(resolveWorld({ repositories: [main], world: ['make', 'docs'] }))).toContain(
      'make-doc-4.4-r0',
    );
  });
  it('survives dependency cycles and filters other arches', () => {
    expect(names(resolveWorld({ repositories: [main], world: ['aa'] })).sort()).toEqual([
      'aa-1-r0',
      'bb-1-r0',
    ]);
    expect(err(() => resolveWorld({ repositories: [main], world: ['armonly'], arch: 'x86_64' }))).toMatch(
      /no package/,
    );
  });
  it('is deterministic regardless of world order', () => {
    const a = names(resolveWorld({ repositories: [main], world: ['make', 'gcc', 'busybox'] }));
    const b = names(resolveWorld({ repositories: [main], world: ['busybox', 'gcc', 'make'] }));
    expect(a).toEqual(b);
  });
});

describe('resolveWorld: harder cases (from apk-tools solver tests)', () => {
  it('backtracks to an older version when the newest cannot be completed', () => {
    const r = repo('r', [
      e('a-2-r0', { depends: ['b', 'c'] }),
      e('a-3-r0', { depends: ['b', 'c', 'd>1.5-r0'] }),
      e('b-1-r0', { depends: ['c', 'd<2.0-r0'] }),
      e('c-1-r0', { depends: ['d>1.0-r0'] }),
      e('d-1.0-r0'),
      e('d-1.5-r0'),
      e('d-2.0-r0'),
    ]);
    expect(names(resolveWorld({ repositories: [r], world: ['a'] })).sort()).toEqual([
      'a-2-r0',
      'b-1-r0',
      'c-1-r0',
      'd-1.5-r0',
    ]);
  });
  it('honours !name in install_if and skips install_if packages that cannot be installed', () => {
    const r = repo('r', [
      e('bar-1-r0'),
      e('baz-1-r0'),
      e('foo-1-r0', { installIf: ['bar=1-r0', '!baz'] }),
      e('x-1-r0', { installIf: ['bar'], depends: ['missing'] }),
    ]);
    expect(names(resolveWorld({ repositories: [r], world: ['bar'] })).sort()).toEqual([
      'bar-1-r0',
      'foo-1-r0',
    ]);
    expect(names(resolveWorld({ repositories: [r], world: ['bar', 'baz'] })).sort()).toEqual([
      'bar-1-r0',
      'baz-1-r0',
    ]);
  });
  it('prefers untagged repositories for dependencies of a pinned package, unless they are pinned too', () => {
    const base = repo('main', [e('a-2-r0', { depends: ['b'] }), e('b-2-r0')]);
    const testing = repo('testing', [e('a-3-r0', { depends: ['b'] }), e('b-3-r0')], 'testing');
    expect(names(resolveWorld({ repositories: [base, testing], world: ['a@testing'] }))).toEqual([
      'b-2-r0',
      'a-3-r0',
    ]);
    expect(names(resolveWorld({ repositories: [base, testing], world: ['a@testing', 'b@testing'] }))).toEqual(
      ['b-3-r0', 'a-3-r0'],
    );
  });
  it('does not let a package conflict with itself', () => {
    const r = repo('r', [e('solo-1-r0', { provides: ['mail-reader'], depends: ['!mail-reader'] })]);
    expect(names(resolveWorld({ repositories: [r], world: ['solo'] }))).toEqual(['solo-1-r0']);
  });
});

describe('resolveWorld: unversioned provides stand in only where no real package exists', () => {
  // A toolchain bundle providing many names unversioned, and real packages of some of them.
  const toolchain = e('toolchain-1-r0', {
    provides: ['build-base=1-r0', 'xz', 'zlib-dev', 'patch', 'so:liblzma.so.5', 'so:libc.so.6'],
  });
  const bundle = repo('bundle', [
    toolchain,
    e('xz-5.4.1-r0', { provides: ['cmd:xz=5.4.1-r0', 'so:liblzma.so.5=5'] }),
    e('zlib-dev-1.3-r0', { depends: ['zlib'] }),
    e('libunwind-1.6-r0', { depends: ['so:liblzma.so.5', 'so:libc.so.6'] }),
    e('zlib-1.3-r0'),
    e('grep-3.8-r0', { depends: ['xz', 'zlib-dev'] }),
    e('needs-patch-1-r0', { depends: ['patch'] }),
  ]);
  it('prefers the real package over an unversioned provider already selected, and installs it later', () => {
    for (const world of [
      ['build-base', 'xz'],
      ['xz', 'build-base'],
      ['toolchain', 'grep'],
    ]) {
      const got = names(resolveWorld({ repositories: [bundle], world }));
      expect(got).toContain('xz-5.4.1-r0');
      // The stand-in goes first, so the real package's files win where both ship one.
      expect(got.indexOf('toolchain-1-r0')).toBeLessThan(got.indexOf('xz-5.4.1-r0'));
    }
    expect(names(resolveWorld({ repositories: [bundle], world: ['build-base', 'grep'] }))).toEqual([
      'toolchain-1-r0',
      'xz-5.4.1-r0',
      'zlib-1.3-r0',
      'zlib-dev-1.3-r0',
      'grep-3.8-r0',
    ]);
  });
  it('prefers a versioned provide (so:) of a real package over an unversioned one already selected', () => {
    expect(names(resolveWorld({ repositories: [bundle], world: ['build-base', 'libunwind'] }))).toEqual([
      'toolchain-1-r0',
      'xz-5.4.1-r0',
      'libunwind-1.6-r0',
    ]);
  });
  it('moves a stand-in selected after its real package to just before it', () => {
    // a-tool sorts before build-base, so xz is selected (for cmd:xz) before the bundle is.
    const withTool = repo('t', [...bundle.entries, e('a-tool-1-r0', { depends: ['cmd:xz'] })]);
    const r = resolveWorld({ repositories: [withTool], world: ['a-tool', 'build-base'] });
    expect(names(r)).toEqual(['toolchain-1-r0', 'xz-5.4.1-r0', 'a-tool-1-r0']);
  });
  it('still resolves a dependency only an unversioned provider satisfies to it', () => {
    expect(names(resolveWorld({ repositories: [bundle], world: ['build-base', 'needs-patch'] }))).toEqual([
      'toolchain-1-r0',
      'needs-patch-1-r0',
    ]);
    expect(names(resolveWorld({ repositories: [bundle], world: ['needs-patch'] }))).toEqual([
      'toolchain-1-r0',
      'needs-patch-1-r0',
    ]);
  });
  it('falls back to the stand-in when the real package cannot be installed; !name still hits a stand-in', () => {
    const broken = repo('broken', [toolchain, e('xz-5.4.1-r0', { depends: ['missing'] })]);
    expect(names(resolveWorld({ repositories: [broken], world: ['build-base', 'xz'] }))).toEqual([
      'toolchain-1-r0',
    ]);
    const conflicting = repo('c', [toolchain, e('xz-5.4.1-r0'), e('noxz-1-r0', { depends: ['!xz'] })]);
    expect(err(() => resolveWorld({ repositories: [conflicting], world: ['build-base', 'noxz'] }))).toMatch(
      /conflicts/,
    );
  });
  it('leaves versioned provides as before: an already selected provider satisfies the name', () => {
    const versioned = repo('v', [
      e('bundle-1-r0', { provides: ['xz=5.6.0-r0'] }),
      e('xz-5.4.1-r0'),
      e('uses-xz-1-r0', { depends: ['xz'] }),
    ]);
    expect(names(resolveWorld({ repositories: [versioned], world: ['bundle', 'uses-xz'] }))).toEqual([
      'bundle-1-r0',
      'uses-xz-1-r0',
    ]);
  });
});

describe("resolveWorld: virtuals with provider_priority (Wolfi's multi-version Python packages)", () => {
  // melange writes a range subpackage's `provides: [py3-toml]` as written (unversioned) with its
  // provider-priority; the origin py3-toml is empty, priority 0.
  const py = repo('py', [
    e('py3-toml-0.10.2-r8', { providerPriority: 0 }),
    e('py3.11-toml-0.10.2-r8', { provides: ['py3-toml'], providerPriority: 311, depends: ['python-3.11'] }),
    e('py3.12-toml-0.10.2-r8', { provides: ['py3-toml'], providerPriority: 312, depends: ['python-3.12'] }),
    e('python-3.11-3.11.2-r0'),
    e('python-3.12-3.12.1-r0'),
    e('uses-toml-1-r0', { depends: ['py3-toml'] }),
  ]);
  it('installs the highest-priority provider, not the empty origin, for the bare name (as apko does)', () => {
    expect(names(resolveWorld({ repositories: [py], world: ['py3-toml'] }))).toEqual([
      'python-3.12-3.12.1-r0',
      'py3.12-toml-0.10.2-r8',
    ]);
    expect(names(resolveWorld({ repositories: [py], world: ['uses-toml'] }))).toEqual([
      'python-3.12-3.12.1-r0',
      'py3.12-toml-0.10.2-r8',
      'uses-toml-1-r0',
    ]);
  });
  it('takes a provider already selected, and never lets an unversioned provide meet a version', () => {
    expect(names(resolveWorld({ repositories: [py], world: ['py3.11-toml', 'uses-toml'] }))).toEqual([
      'python-3.11-3.11.2-r0',
      'py3.11-toml-0.10.2-r8',
      'uses-toml-1-r0',
    ]);
    expect(names(resolveWorld({ repositories: [py], world: ['py3-toml=0.10.2-r8'] }))).toEqual([
      'py3-toml-0.10.2-r8',
    ]);
  });
  it('still ranks stand-ins (no provider_priority) after both the virtual and the real package', () => {
    const toolchain = e('toolchain-12-r1', { provides: ['py3-toml', 'flex'] });
    const withBundle = repo('b', [toolchain, ...py.entries, e('flex-2.6.4-r0')]);
    expect(
      names(resolveWorld({ repositories: [withBundle], world: ['toolchain', 'py3-toml', 'flex'] })),
    ).toEqual(['toolchain-12-r1', 'flex-2.6.4-r0', 'python-3.12-3.12.1-r0', 'py3.12-toml-0.10.2-r8']);
    expect(names(resolveWorld({ repositories: [repo('t', [toolchain])], world: ['py3-toml'] }))).toEqual([
      'toolchain-12-r1',
    ]);
  });
  it('keeps versioned provides ranked by version, then provider_priority, and a real name first', () => {
    const so = repo('so', [
      e('libx-old-1-r0', { provides: ['so:libx.so.1=1.0'], providerPriority: 50 }),
      e('libx-new-2-r0', { provides: ['so:libx.so.1=2.0'] }),
      e('sh-a-1-r0', { provides: ['cmd:sh=1'], providerPriority: 1 }),
      e('sh-b-1-r0', { provides: ['cmd:sh=1'], providerPriority: 2 }),
      e('mailreader-0.1-r0'),
      e('mail-c-9-r0', { provides: ['mailreader=9'], providerPriority: 9 }),
      e('mail-v-1-r0', { provides: ['mailreader'], providerPriority: 5 }),
    ]);
    expect(names(resolveWorld({ repositories: [so], world: ['so:libx.so.1'] }))).toEqual(['libx-new-2-r0']);
    expect(names(resolveWorld({ repositories: [so], world: ['cmd:sh'] }))).toEqual(['sh-b-1-r0']);
    // With a virtual among the candidates, provider_priority orders them all (the virtual's missing
    // version ties with any); on equal priority a versioned offer (here the real name) goes first.
    expect(names(resolveWorld({ repositories: [so], world: ['mailreader'] }))).toEqual(['mail-c-9-r0']);
    const noVirtual = repo(
      'nv',
      so.entries.filter((x) => x.name !== 'mail-v'),
    );
    expect(names(resolveWorld({ repositories: [noVirtual], world: ['mailreader'] }))).toEqual([
      'mailreader-0.1-r0',
    ]);
    const lowVirtual = repo('lv', [
      e('mailreader-0.1-r0', { providerPriority: 5 }),
      e('mail-v-1-r0', { provides: ['mailreader'], providerPriority: 5 }),
    ]);
    expect(names(resolveWorld({ repositories: [lowVirtual], world: ['mailreader'] }))).toEqual([
      'mailreader-0.1-r0',
    ]);
  });
});
