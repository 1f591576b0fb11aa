import { describe, expect, it } from 'vitest';
import { parseConfig } from '@melange2/melange';
import { applyVarTransforms } from '@melange2/melange/internal';

/**
 * A config whose var-transform has a nested quantifier: exponential on a backtracking engine.
 * (The input is a variable: `aaa!` is no apk version, which the parse rejects.)
 */
const config = (input: string) => `package:
  name: redos
  version: 1.0.0
  epoch: 0
vars:
  input: "${input}"
var-transforms:
  - from: \${{vars.input}}
    match: (a+)+$
    replace: x
    to: v
pipeline:
  - runs: echo \${{vars.v}}
`;

/** The fastest of a few runs: the least disturbed by whatever else the machine does. */
function fastest(f: () => void, runs = 5): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

describe('var-transforms run in linear time (RE2 semantics)', () => {
  it('parses the nested-quantifier config on a 28-character version, with Go’s result', () => {
    const parsed = parseConfig(config(`${'a'.repeat(27)}!`), 'redos.yaml');
    expect(parsed.vars['vars.v']).toBe(`${'a'.repeat(27)}!`); // no match: `!` ends the input
    expect(parseConfig(config('aaaa'), 'redos.yaml').vars['vars.v']).toBe('x');
  });

  it('10× the input takes far less than 50× the time', () => {
    const transform = (n: number) => () =>
      applyVarTransforms([{ from: `${'a'.repeat(n)}!`, match: '(a+)+$', replace: 'x', to: 'v' }], {});
    const n = 2_000;
    // Repeat the small case so both timings are well above the timer's resolution.
    const small = fastest(() => {
      for (let i = 0; i < 10; i++) transform(n)();
    });
    const large = fastest(() => {
      for (let i = 0; i < 10; i++) transform(10 * n)();
    });
    expect(large / small).toBeLessThan(50);
  });
});
