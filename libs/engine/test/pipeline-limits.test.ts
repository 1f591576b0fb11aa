import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileConfig } from '@melange2/engine';
import {
  ConfigError,
  MAX_CONFIG_BYTES,
  MAX_EXPANDED_STEPS,
  MAX_PIPELINE_DEPTH,
  PipelineResolver,
  parseConfig,
} from '@melange2/melange';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// `uses:` expansion is bounded: a cycle, a deep chain or a fan-out is a named config error
// raised while expanding, not a stack overflow or gigabytes of steps.
let dir: string;
let resolver: PipelineResolver;

const write = (name: string, text: string) => {
  const file = join(dir, `${name}.yaml`);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
};
const uses = (names: readonly string[]) => `pipeline:\n${names.map((n) => `  - uses: ${n}\n`).join('')}`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pipeline-limits-'));
  write('self', uses(['self']));
  write('ping', uses(['pong']));
  write('pong', uses(['ping']));
  // A chain 2,000 pipelines long.
  for (let i = 0; i < 2000; i++) write(`chain/${i}`, i < 1999 ? uses([`chain/${i + 1}`]) : 'runs: true\n');
  // 10 wide, 8 deep: 10^8 steps once expanded.
  for (let i = 0; i < 8; i++) write(`fan/${i}`, uses(Array(10).fill(`fan/${i + 1}`)));
  write('fan/8', 'runs: echo leaf\n');
  write('huge', `runs: true\n#${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
  resolver = new PipelineResolver([dir]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (pipeline: string) => `package: { name: limits, version: 1.0.0 }\n${pipeline}`;

function compileError(text: string): ConfigError {
  try {
    compileConfig(parseConfig(text, 'limits.yaml'), { arch: 'x86_64', resolver });
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('uses: expansion limits in the compile', () => {
  it('names a pipeline that uses itself, with the config file and the chain', () => {
    const e = compileError(config(uses(['self'])));
    expect(e.code).toBe('PIPELINE_CYCLE');
    expect(e.file).toBe('limits.yaml');
    expect(e.line).toBe(3);
    expect(e.message).toContain('pipeline cycle: self → self');
  });

  it('names an indirect cycle', () => {
    const e = compileError(config(`pipeline:\n  - runs: true\n  - uses: ping\n`));
    expect(e.code).toBe('PIPELINE_CYCLE');
    expect(e.message).toContain('ping → pong → ping');
  });

  it(`stops a 2,000-deep uses: chain at ${MAX_PIPELINE_DEPTH}`, () => {
    const e = compileError(config(uses(['chain/0'])));
    expect(e.code).toBe('PIPELINE_DEPTH');
    expect(e.message).toContain(`more than ${MAX_PIPELINE_DEPTH} deep`);
    expect(e.message).toContain('chain/0 → chain/1 →');
  });

  const inline = (depth: number) =>
    config(`pipeline:\n  - ${'{ pipeline: ['.repeat(depth)}{ runs: true }${'] }'.repeat(depth)}\n`);

  it(`stops inline pipelines nested more than ${MAX_PIPELINE_DEPTH} deep`, () => {
    const e = compileError(inline(40));
    expect(e.code).toBe('PIPELINE_DEPTH');
    expect(e.message).toContain('(uses: (inline))');
  });

  it('rejects a 2,000-deep inline pipeline while reading the YAML (at most 100 levels)', () => {
    const e = compileError(inline(2000));
    expect(e.code).toBe('CONFIG_YAML');
    expect(e.message).toMatch(/limits\.yaml:3:\d+: .*nesting exceeded maxDepth/);
  });

  it('compiles 2,000 flat steps', () => {
    const steps = Array.from({ length: 2000 }, (_, i) => `  - runs: echo ${i}\n`).join('');
    const plan = compileConfig(parseConfig(config(`pipeline:\n${steps}`), 'limits.yaml'), {
      arch: 'x86_64',
      resolver,
    });
    expect(plan.steps).toHaveLength(2000);
  });

  it(`stops a config that expands to more than ${MAX_EXPANDED_STEPS} steps`, () => {
    const steps = Array.from({ length: MAX_EXPANDED_STEPS + 1 }, () => '  - runs: true\n').join('');
    expect(compileError(config(`pipeline:\n${steps}`)).code).toBe('PIPELINE_TOO_MANY_STEPS');
  });

  it('stops a 10-wide, 8-deep fan-out after counting, not after expanding, its steps', () => {
    const e = compileError(config(uses(['fan/0'])));
    expect(e.code).toBe('PIPELINE_TOO_MANY_STEPS');
    expect(e.message).toContain(`more than ${MAX_EXPANDED_STEPS} pipeline steps`);
  });

  it('refuses a pipeline file over the size limit before reading it', () => {
    const e = compileError(config(uses(['huge'])));
    expect(e.file).toBe(join(dir, 'huge.yaml'));
    expect(e.message).toContain(`more than the ${MAX_CONFIG_BYTES} a config or pipeline may have`);
    expect(e.errors.map((d) => d.message)).toContainEqual(
      expect.stringContaining('pipeline "huge" is invalid'),
    );
  });
});
