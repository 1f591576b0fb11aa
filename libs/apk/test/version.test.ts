import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compareVersions, parseDependency, versionMatches, type VersionOp } from '@melange2/apk';
import { isValidVersion, satisfies } from '@melange2/apk/internal';

const VECTORS = fileURLToPath(
  new URL('../../../../shared/corpora/apk-version-vectors/version.data', import.meta.url),
);

const sym = (c: number) => (c < 0 ? '<' : c > 0 ? '>' : '=');

describe('apk version vectors (apk-tools test/unit/version.data)', () => {
  it.skipIf(!existsSync(VECTORS))('agrees with every line', () => {
    const lines = readFileSync(VECTORS, 'utf8').split('\n');
    const failures: string[] = [];
    let checked = 0;
    lines.forEach((raw, i) => {
      const line = raw.replace(/#.*$/, '').trim();
      if (!line) return;
      const f = line.split(/\s+/);
      checked++;
      if (f.length === 1) {
        const v = f[0]!;
        const want = !v.startsWith('!');
        const ver = want ? v : v.slice(1);
        if (isValidVersion(ver) !== want) failures.push(`${i + 1}: ${raw} (valid=${!want})`);
        return;
      }
      const [a, op, b] = f as [string, string, string];
      let ok: boolean;
      if (op === '<' || op === '>' || op === '=') ok = sym(compareVersions(a, b)) === op;
      else if (op === '!~') ok = !versionMatches(a, '~', b);
      else ok = versionMatches(a, op as VersionOp, b);
      if (!ok) failures.push(`${i + 1}: ${raw} (got ${sym(compareVersions(a, b))})`);
    });
    expect(failures).toEqual([]);
    expect(checked).toBeGreaterThan(700);
  });
  if (!existsSync(VECTORS)) it.skip(`version vectors absent at ${VECTORS}`, () => {});
});

describe('compareVersions (hand-written table)', () => {
  const chain = ['1.0_rc1-r3', '1.0', '1.0-r0', '1.0-r5', '1.0_p1', '1.0_p1-r1', '1.0.1'];
  it('orders the release/suffix chain', () => {
    for (let i = 0; i + 1 < chain.length; i++) expect(compareVersions(chain[i]!, chain[i + 1]!)).toBe(-1);
  });
  it.each([
    ['8.2.0', '8.2.001', -1],
    ['8.2.0015', '8.2.002', -1],
    ['1.0a', '1.0.1', -1],
    ['1.0-r1', '1.0.1', -1],
    ['1.10', '1.9', 1],
    ['123456789012345678901234567890', '123456789012345678901234567891', -1],
    ['1.0_alpha', '1.0_beta', -1],
    ['1.0_git20240101', '1.0_p1', -1],
    ['2.12.1-r0', '2.12.1-r0', 0],
  ])('%s vs %s → %i', (a, b, want) => {
    expect(compareVersions(a, b)).toBe(want);
    expect(compareVersions(b, a)).toBe(want === 0 ? 0 : -want);
  });
  it('matches constraints', () => {
    expect(versionMatches('3.6.9', '~', '3.6')).toBe(true);
    expect(versionMatches('3.8', '~', '3.8.1')).toBe(false);
    expect(versionMatches('15.1.0-r0', '>=', '15')).toBe(true);
    expect(versionMatches('14.2.0-r3', '>=', '15')).toBe(false);
    expect(versionMatches('1.2-r0', '<', '1.2-r1')).toBe(true);
  });
});

describe('parseDependency', () => {
  it('parses names, conflicts, pins and operators', () => {
    expect(parseDependency('so:libc.musl-x86_64.so.1')).toEqual({
      name: 'so:libc.musl-x86_64.so.1',
      conflict: false,
    });
    expect(parseDependency('!foo<1.2')).toEqual({ name: 'foo', conflict: true, op: '<', version: '1.2' });
    expect(parseDependency('gcc@edge>=15')).toEqual({
      name: 'gcc',
      conflict: false,
      tag: 'edge',
      op: '>=',
      version: '15',
    });
    expect(parseDependency('py3=~3.12')).toMatchObject({ op: '~', version: '3.12' });
    expect(parseDependency('/bin/sh').name).toBe('/bin/sh');
  });
  it('names the bad dependency', () => {
    expect(() => parseDependency('foo<<>1', 'D: of bar')).toThrow(
      /D: of bar: unknown operator "<<>" in "foo<<>1"/,
    );
    expect(() => parseDependency('', 'world')).toThrow(/world: malformed dependency/);
  });
  it('matches provides', () => {
    const pkg = { name: 'busybox', version: '1.36.1-r0', provides: ['cmd:sh=1.36.1-r0', '/bin/sh'] };
    expect(satisfies(pkg, parseDependency('cmd:sh>=1'))).toBe(true);
    expect(satisfies(pkg, parseDependency('/bin/sh'))).toBe(true);
    expect(satisfies(pkg, parseDependency('/bin/sh>=1'))).toBe(false);
    expect(satisfies(pkg, parseDependency('busybox<1.36'))).toBe(false);
  });
});
