import { describe, expect, it } from 'vitest';
import { PipelineResolver, parseConfig } from '@melange2/melange';
import { compileConfig } from '@melange2/engine';
import { PackageError, packageMetadata } from '@melange2/engine/internal';

const CONFIG = `
package:
  name: meta
  version: 2.0.1
  epoch: 3
  description: main description
  url: https://example.com/meta
  commit: abc123
  copyright:
    - license: MIT
    - license: Apache-2.0
  dependencies:
    runtime: [busybox, "so:libc.so.6"]
    provides: ["meta-compat=\${{package.full-version}}"]
    replaces: [old-meta]
    provider-priority: "10"
  scriptlets:
    post-install: |
      #!/bin/sh
      echo installed
    trigger:
      script: "#!/bin/sh\\necho trigger"
      paths: [/usr/share/meta]
pipeline:
  - runs: "true"
subpackages:
  - name: meta-dev
    description: headers
    dependencies:
      runtime: [meta]
      replaces-priority: "5"
    pipeline:
      - runs: "true"
`;

function plan() {
  const parsed = parseConfig(CONFIG, 'meta.yaml');
  return { parsed, plan: compileConfig(parsed, { arch: 'aarch64', resolver: new PipelineResolver([]) }) };
}

describe('.PKGINFO metadata from the config', () => {
  it('main package: melange fields, license expression, runtime deps before SCA, scripts and triggers', () => {
    const { parsed, plan: p } = plan();
    const { info, scripts } = packageMetadata(parsed, p, 'meta', {
      provides: ['cmd:meta=2.0.1-r3'],
      depends: ['so:libc.so.6', 'so:libz.so.1', 'meta-compat', 'so-ver:libz.so.1>=1.2'],
      warnings: [],
    });
    expect(info).toMatchObject({
      name: 'meta',
      version: '2.0.1-r3',
      arch: 'aarch64',
      origin: 'meta',
      description: 'main description',
      url: 'https://example.com/meta',
      commit: 'abc123',
      license: 'MIT AND Apache-2.0',
      // meta-compat is provided by the package itself: no dependency.
      depends: ['busybox', 'so:libc.so.6', 'so:libz.so.1', 'so-ver:libz.so.1>=1.2'],
      provides: ['meta-compat=2.0.1-r3', 'cmd:meta=2.0.1-r3'],
      replaces: ['old-meta'],
      providerPriority: 10,
      triggers: ['/usr/share/meta'],
      builddate: p.sourceDateEpoch,
    });
    expect(scripts['post-install']).toContain('echo installed');
    expect(scripts.trigger).toContain('echo trigger');
  });

  it('subpackage: its own description and deps, the main package as origin, url and commit inherited', () => {
    const { parsed, plan: p } = plan();
    const { info } = packageMetadata(parsed, p, 'meta-dev', { provides: [], depends: [], warnings: [] });
    expect(info).toMatchObject({
      name: 'meta-dev',
      origin: 'meta',
      description: 'headers',
      url: 'https://example.com/meta',
      depends: ['meta'],
      provides: [],
      replacesPriority: 5,
    });
  });

  it('a non-numeric priority names the package and field', () => {
    const { parsed, plan: p } = plan();
    const bad = {
      ...parsed,
      config: {
        ...parsed.config,
        package: { ...parsed.config.package, dependencies: { 'provider-priority': 'high' } },
      },
    };
    expect(() => packageMetadata(bad, p, 'meta', { provides: [], depends: [], warnings: [] })).toThrow(
      PackageError,
    );
    expect(() => packageMetadata(bad, p, 'meta', { provides: [], depends: [], warnings: [] })).toThrow(
      /meta: dependencies\.provider-priority "high" is not an integer/,
    );
    expect(() => packageMetadata(bad, p, 'meta', { provides: [], depends: [], warnings: [] })).toThrow(
      expect.objectContaining({ code: 'PACKAGE_METADATA', pkg: 'meta' }),
    );
  });
});
