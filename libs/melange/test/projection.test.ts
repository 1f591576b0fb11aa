import {
  configNeeds,
  environmentPackages,
  type GraphStep,
  MAX_EXPANDED_STEPS,
  MAX_PIPELINE_DEPTH,
  type PipelineLookup,
  parseGraphConfig,
} from '@melange2/melange';
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

describe('uses: expansion limits in the graph projection', () => {
  const defs: Record<string, GraphStep> = {
    self: { pipeline: [{ uses: 'self' }] },
    ping: { pipeline: [{ uses: 'pong' }] },
    pong: { pipeline: [{ uses: 'ping' }], needs: { packages: ['pong-tool'] } },
    'fan/8': { needs: { packages: ['leaf'] } },
  };
  for (let i = 0; i < 8; i++) defs[`fan/${i}`] = { pipeline: Array(10).fill({ uses: `fan/${i + 1}` }) };
  for (let i = 0; i < 2000; i++) defs[`chain/${i}`] = { pipeline: [{ uses: `chain/${i + 1}` }] };
  const lookup: PipelineLookup = (name) => defs[name];
  const needs = (uses: string) =>
    configNeeds(
      parseGraphConfig(`package: { name: g, version: 1.0.0 }\npipeline:\n  - uses: ${uses}\n`, 'g.yaml'),
      'x86_64',
      lookup,
    );

  it('names a cycle with its chain, as the compile does', () => {
    expect(needs('self').limit).toMatchObject({ code: 'PIPELINE_CYCLE', chain: ['self', 'self'] });
    const n = needs('ping');
    expect(n.limit).toMatchObject({ code: 'PIPELINE_CYCLE', chain: ['ping', 'pong', 'ping'] });
    expect(n.problems).toEqual(['PIPELINE_CYCLE: pipeline cycle: ping → pong → ping']);
    // What was found before the cycle is kept.
    expect(n.pipelineNeeds).toEqual([{ uses: 'pong', packages: ['pong-tool'] }]);
  });

  it(`stops a 2,000-deep chain at ${MAX_PIPELINE_DEPTH}`, () => {
    const n = needs('chain/0');
    expect(n.limit?.code).toBe('PIPELINE_DEPTH');
    // The top-level step is depth 0: the step at depth 17 is the one refused.
    expect(n.limit?.chain.at(-1)).toBe(`chain/${MAX_PIPELINE_DEPTH + 1}`);
  });

  it(`stops a 10-wide, 8-deep fan-out after ${MAX_EXPANDED_STEPS} steps`, () => {
    const n = needs('fan/0');
    expect(n.limit?.code).toBe('PIPELINE_TOO_MANY_STEPS');
    expect(n.pipelineNeeds.length).toBeLessThan(MAX_EXPANDED_STEPS);
  });
});
