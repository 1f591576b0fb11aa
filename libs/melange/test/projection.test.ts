import { configNeeds, environmentPackages, parseGraphConfig } from '@melange2/melange';
import { describe, expect, it } from 'vitest';

const config = `
package: { name: hello, version: 1.2.3 }
environment: { contents: { packages: [busybox, make] } }
pipeline:
  - runs: ./configure
    needs: { packages: [make, cmake] }
  - if: \${{build.arch}} == 'aarch64'
    needs: { packages: [arm-only] }
`;

describe('environmentPackages', () => {
  it('lists the build environment as the compile does: environment first, then step needs, deduplicated', () => {
    const g = parseGraphConfig(config, 'hello.yaml');
    const env = (arch: string) => environmentPackages(configNeeds(g, arch, () => undefined));
    expect(env('x86_64')).toEqual(['busybox', 'make', 'cmake']);
    expect(env('aarch64')).toEqual(['busybox', 'make', 'cmake', 'arm-only']);
  });
});
