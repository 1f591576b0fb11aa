import { describe, expect, it } from 'vitest';
import { evaluateCondition } from '@melange2/melange';

describe('if: conditions', () => {
  const t = "'a' == 'a'";
  const f = "'a' == 'b'";

  it('combines && and || strictly left to right, as melange does (no precedence)', () => {
    // (t || f) && f: false. A parser that lets && bind tighter says true.
    expect(evaluateCondition(`${t} || ${f} && ${f}`)).toBe(false);
    expect(evaluateCondition(`${f} && ${f} || ${t}`)).toBe(true);
  });

  it('groups with parentheses', () => {
    expect(evaluateCondition(`${t} || (${f} && ${f})`)).toBe(true);
  });

  it('resolves ${{…}} references and names an unknown one', () => {
    expect(evaluateCondition(`\${{x}} != "y"`, (k) => (k === 'x' ? 'z' : undefined))).toBe(true);
    expect(() => evaluateCondition(`\${{nope}} == 'x'`, () => undefined)).toThrow(
      /variable nope not defined/,
    );
  });
});
