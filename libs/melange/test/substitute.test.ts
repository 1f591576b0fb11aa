import { describe, expect, it } from 'vitest';
import {
  applyVarTransforms,
  compileRe2,
  Re2SyntaxError,
  replaceAllGo,
  VarTransformError,
} from '@melange2/melange/internal';
import { substitute, substituteStrict, UnknownVariableError } from '@melange2/melange';

const goReplace = (pattern: string, src: string, repl: string) =>
  replaceAllGo(compileRe2(pattern), src, repl);

describe('substitute', () => {
  const vars = { 'package.name': 'foo', 'package.version': '1.2.3', 'vars.x': 'X', 'vars.empty': '' };

  it('replaces known keys, keeps unknown references as written', () => {
    expect(substitute('${{package.name}}-${{package.version}}', vars)).toBe('foo-1.2.3');
    expect(substitute('a ${{vars.nope}} b', vars)).toBe('a ${{vars.nope}} b');
    expect(substitute('${{vars.empty}}|', vars)).toBe('|');
  });

  it('accepts spaces inside the braces, as melange does', () => {
    expect(substitute('${{ package.name }}', vars)).toBe('foo');
  });

  it('leaves text without references and malformed references alone', () => {
    const s = 'echo $HOME ${x} ${{ not closed';
    expect(substitute(s, vars)).toBe(s);
  });

  it('does not resolve inherited object keys', () => {
    expect(substitute('${{constructor}}', {})).toBe('${{constructor}}');
  });

  it('substituteStrict rejects an unknown key, naming it', () => {
    expect(() => substituteStrict('make ${{inputs.opts}}', vars)).toThrow(UnknownVariableError);
    expect(() => substituteStrict('make ${{inputs.opts}}', vars)).toThrow(/inputs\.opts not defined/);
  });
});

describe('RE2 → JS translation', () => {
  it('takes escaped punctuation as literals (\\_ \\- are errors in a u RegExp)', () => {
    expect(goReplace('\\_', 'a_b_c', '.')).toBe('a.b.c');
    expect(goReplace('^(.+)\\-(\\d+)$', 'foo-bar-12', '$1.$2')).toBe('foo-bar.12');
  });

  it('translates named groups, POSIX classes, \\Q…\\E, octal, \\x{…}', () => {
    expect(goReplace('(?P<maj>\\d+)\\.(?P<min>\\d+)', '17.4', '${min}.${maj}')).toBe('4.17');
    expect(goReplace('[[:digit:]]+', 'a12b3', '#')).toBe('a#b#');
    expect(goReplace('\\Q1.2\\E', '1.2 1x2', 'v')).toBe('v 1x2');
    expect(goReplace('\\101', 'ABA', 'a')).toBe('aBa');
    expect(goReplace('\\x{41}\\x42', 'AB', 'ok')).toBe('ok');
  });

  it('keeps . from matching only \\n, and \\s to ASCII space characters', () => {
    expect(goReplace('a.b', 'a\rb a\nb', 'X')).toBe('X a\nb');
    expect(goReplace('\\s', 'a\u00a0b c', '_')).toBe('a\u00a0b_c');
  });

  it('scopes (?i) to the rest of its group, alternatives included', () => {
    expect(goReplace('a(?i)b|c', 'aB C ab', 'X')).toBe('X X X');
    expect(goReplace('(a(?i)b)c', 'aBc aBC', 'X')).toBe('X aBC');
    expect(goReplace('(?i)ruby', 'RUBY', 'r')).toBe('r');
  });

  it('honours (?s), (?m) and (?U)', () => {
    expect(goReplace('(?s)a.b', 'a\nb', 'X')).toBe('X');
    expect(goReplace('(?m)^x$', 'x\nx', 'y')).toBe('y\ny');
    expect(goReplace('(?U)a+', 'aaa', 'b')).toBe('bbb');
  });

  it('takes a { that starts no repeat as a literal', () => {
    expect(goReplace('a{', 'a{', 'x')).toBe('x');
    expect(goReplace('\\d{2}(\\d{4}).*$', '20241231', '$1')).toBe('2412');
  });

  it('rejects what Go rejects, naming the pattern', () => {
    for (const bad of ['(?=a)', '(?<!a)b', '\\1', 'a**', '*a', '(a', 'a)', '[a', 'a{1001}', '\\8', '\\y']) {
      expect(() => compileRe2(bad), bad).toThrow(Re2SyntaxError);
    }
    expect(() => compileRe2('ab\\1')).toThrow(/invalid regular expression "ab\\\\1"/);
  });
});

describe('Go ReplaceAllString semantics', () => {
  it('expands $name greedily: $1W names group "1W" (empty), ${1}W does not', () => {
    // The examples of Go's regexp.ReplaceAllString documentation.
    expect(goReplace('a(x*)b', '-ab-axxb-', 'T')).toBe('-T-T-');
    expect(goReplace('a(x*)b', '-ab-axxb-', '$1')).toBe('--xx-');
    expect(goReplace('a(x*)b', '-ab-axxb-', '$1W')).toBe('---');
    expect(goReplace('a(x*)b', '-ab-axxb-', '${1}W')).toBe('-W-xxW-');
  });

  it('treats $$ as $ and a malformed $ as text', () => {
    expect(goReplace('b', 'abc', '$$')).toBe('a$c');
    expect(goReplace('b', 'abc', '$')).toBe('a$c');
    expect(goReplace('b', 'abc', '${x')).toBe('a${xc');
    expect(goReplace('(b)', 'abc', '\\$1')).toBe('a\\bc');
  });

  it('skips an empty match right after a match (JS does not)', () => {
    expect(goReplace('a*', 'baaac', '-')).toBe('-b-c-');
    expect('baaac'.replace(/a*/g, '-')).toBe('-b--c-');
    expect(goReplace('x*', 'abc', '-')).toBe('-a-b-c-');
    expect(goReplace('', '😀a', '.')).toBe('.😀.a.');
  });
});

describe('applyVarTransforms', () => {
  it('applies transforms in order, later ones seeing earlier outputs', () => {
    const vars = { 'package.name': 'ruby3.4-foo', 'package.version': '17.0.7.5' };
    const out = applyVarTransforms(
      [
        { from: '${{package.name}}', match: '^ruby(\\d\\.\\d+)-.*', replace: '$1', to: 'rubyMM' },
        { from: '${{package.version}}', match: '\\.(\\d+)$', replace: '+$1', to: 'mangled' },
        { from: 'v${{vars.mangled}}', match: '\\+', replace: '_', to: 'again' },
      ],
      vars,
    );
    expect(out['vars.rubyMM']).toBe('3.4');
    expect(out['vars.mangled']).toBe('17.0.7+5');
    expect(out['vars.again']).toBe('v17.0.7_5');
    expect(vars).not.toHaveProperty(['vars.rubyMM']);
  });

  it('names the transform and field of a bad regular expression', () => {
    expect(() => applyVarTransforms([{ from: 'x', match: '(?=x)', replace: '', to: 'y' }], {})).toThrow(
      VarTransformError,
    );
    expect(() => applyVarTransforms([{ from: 'x', match: '(', replace: '', to: 'y' }], {})).toThrow(
      /var-transforms\[0\]\.match: .*missing closing \)/,
    );
  });
});

describe('substituteCondition', () => {
  const vars = { 'package.name': 'foo', 'range.key': '3.10', 'vars.q': 'a"b' };

  it('quotes a value outside quotes, keeps it raw inside a literal, leaves unknown references', async () => {
    const { substituteCondition, evaluateCondition } = await import('@melange2/melange');
    expect(substituteCondition("${{package.name}} == 'foo'", vars)).toBe(`"foo" == 'foo'`);
    expect(substituteCondition('"${{range.key}}" == "3.10"', vars)).toBe('"3.10" == "3.10"');
    expect(substituteCondition('${{build.arch}} == "x86_64"', vars)).toBe('${{build.arch}} == "x86_64"');
    expect(evaluateCondition(substituteCondition('${{vars.q}} == "a\\"b"', vars))).toBe(true);
  });
});
