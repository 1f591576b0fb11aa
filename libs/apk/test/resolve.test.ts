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
