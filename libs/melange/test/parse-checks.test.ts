import { ConfigError, parseConfig, parseGraphConfig } from '@melange2/melange';
import { describe, expect, it } from 'vitest';

// What the build would reject (or, worse, accept) after a full build is rejected when the
// config is read: by the compile's parse and by the scan's graph parse alike.
const config = (pkg: string, rest = '') => `package:\n${pkg}${rest}`;

function errorOf(parse: (text: string, file: string) => unknown, text: string): ConfigError {
  try {
    parse(text, 'pkg.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe.each([
  ['parseConfig', parseConfig],
  ['parseGraphConfig', parseGraphConfig],
])('%s checks what names the package', (_, parse) => {
  it.each(['1.2/../../etc', '1..2', '1.2 ', 'v1.2', '1.2-r3', '1.2_beta1-x'])(
    'rejects version %j with file and line',
    (version) => {
      const e = errorOf(parse, config(`  name: p\n  version: "${version}"\n`));
      expect(e.code).toBe('CONFIG_VERSION');
      expect(e.file).toBe('pkg.yaml');
      expect(e.line).toBe(3);
      expect(e.message).toContain('is not a valid apk version');
    },
  );

  it('checks the version after substitution', () => {
    const ok = config('  name: p\n  version: ${{vars.v}}\n', 'vars:\n  v: 1.2.3\n');
    expect(() => parse(ok, 'pkg.yaml')).not.toThrow();
    const bad = config('  name: p\n  version: ${{vars.v}}\n', 'vars:\n  v: 1.2/..\n');
    expect(errorOf(parse, bad).code).toBe('CONFIG_VERSION');
  });

  it.each(['1.2.3', '2.0_rc1', '1.0a', '6.9.0_p20240101', '0.1~abc123', '20240101'])(
    'accepts version %j',
    (version) => {
      expect(() => parse(config(`  name: p\n  version: "${version}"\n`), 'pkg.yaml')).not.toThrow();
    },
  );

  it('rejects an epoch past the safe integers (1e+26)', () => {
    const e = errorOf(parse, config('  name: p\n  version: 1.0\n  epoch: 100000000000000000000000000\n'));
    expect(e.code).toBe('CONFIG_INVALID');
    expect(e.line).toBe(4);
    expect(e.message).toContain('is too large');
    expect(errorOf(parse, config('  name: p\n  version: 1.0\n  epoch: -1\n')).line).toBe(4);
  });

  it('names an unterminated ${{ in the package or a subpackage name', () => {
    const e = errorOf(
      parse,
      config('  name: p\n  version: 1.0\n', 'subpackages:\n  - name: ${{package.name-dev\n'),
    );
    expect(e.code).toBe('CONFIG_UNTERMINATED_VARIABLE');
    expect(e.line).toBe(5);
    expect(errorOf(parse, config('  name: p\n  version: ${{vars.v\n')).code).toBe(
      'CONFIG_UNTERMINATED_VARIABLE',
    );
  });
});
