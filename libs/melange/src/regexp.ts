/**
 * Go `regexp` for var-transforms: melange compiles `match` with `regexp.Compile` and applies it with
 * `ReplaceAllString`. re2js is a port of Go's engine (same syntax, same leftmost-first matching,
 * linear time), so a pattern such as `(a+)+$` cannot hang a scan as a backtracking engine would.
 * What re2js leaves to us is Go's replacement: the `ReplaceAllString` loop over submatches and
 * `Regexp.Expand` of the template (`$1`, `${1}`, `$name`, `${name}`, `$$`).
 */
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';

// Loaded when the first pattern is compiled: most configs have no var-transforms (about 2 in 3 in
// Wolfi), and a command that reads one of those never pays for re2js.
let re2js: typeof import('re2js') | undefined;
const engine = () => (re2js ??= createRequire(import.meta.url)('re2js') as typeof import('re2js'));

/** A pattern Go's `regexp.Compile` would reject. */
export class Re2SyntaxError extends Error {
  override readonly name = 'Re2SyntaxError';
  readonly code = 'RE2_SYNTAX';
  constructor(
    readonly pattern: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`invalid regular expression ${JSON.stringify(pattern)}: ${reason}`, options);
  }
}

/** A compiled Go regexp. */
export interface GoRegExp {
  readonly pattern: string;
  readonly re: RE2JS;
  /** Number of capturing groups. */
  readonly groups: number;
  /** Named groups → group number (Go's `SubexpNames`). */
  readonly names: ReadonlyMap<string, number>;
}

const cache = new Map<string, GoRegExp>();

/** Compiles an RE2 pattern like Go's `regexp.Compile` (memoized; throws {@link Re2SyntaxError}). */
export function compileRe2(pattern: string): GoRegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const { RE2JS, RE2JSException } = engine();
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (e) {
    if (e instanceof RE2JSException) throw new Re2SyntaxError(pattern, e.message, { cause: e });
    throw e;
  }
  const compiled: GoRegExp = {
    pattern,
    re,
    groups: re.groupCount(),
    names: new Map(Object.entries(re.namedGroups())),
  };
  if (cache.size > 10_000) cache.clear();
  cache.set(pattern, compiled);
  return compiled;
}

const UNANCHORED = 0;
const isNameChar = (ch: string): boolean => /^[\p{L}\p{Nd}_]$/u.test(ch);

/** Go's `Regexp.Expand` of a `ReplaceAllString` template, for one match's group offsets. */
function expand(re: GoRegExp, template: string, src: string, g: readonly number[]): string {
  if (!template.includes('$')) return template;
  const group = (n: number) => {
    const a = g[2 * n] ?? -1;
    const b = g[2 * n + 1] ?? -1;
    return a < 0 || b < 0 ? '' : src.slice(a, b);
  };
  let out = '';
  let i = 0;
  while (i < template.length) {
    const d = template.indexOf('$', i);
    if (d < 0) {
      out += template.slice(i);
      break;
    }
    out += template.slice(i, d);
    i = d + 1;
    if (template[i] === '$') {
      out += '$';
      i++;
      continue;
    }
    const brace = template[i] === '{';
    let j = brace ? i + 1 : i;
    let name = '';
    while (j < template.length) {
      const ch = String.fromCodePoint(template.codePointAt(j)!);
      if (!isNameChar(ch)) break;
      name += ch;
      j += ch.length;
    }
    if (name === '' || (brace && template[j] !== '}')) {
      out += '$'; // malformed: the `$` is literal text
      continue;
    }
    i = brace ? j + 1 : j;
    // Go: a name of decimal digits (no leading zero, at most 8) is a group number, else a group name.
    let num = -1;
    if (/^\d+$/.test(name) && !(name.length > 1 && name[0] === '0') && name.length <= 8) num = Number(name);
    if (num < 0) num = re.names.get(name) ?? -1;
    if (num >= 0 && num <= re.groups) out += group(num);
  }
  return out;
}

/** Go's `Regexp.ReplaceAllString(src, repl)`, empty-match rules included. */
export function replaceAllGo(re: GoRegExp, src: string, repl: string): string {
  const matcher = re.re.re2();
  const input = engine().MatcherInput.utf16(src);
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= src.length) {
    const [ok, g] = matcher.matchWithGroup(input, searchPos, src.length, UNANCHORED, re.groups + 1) as [
      boolean,
      number[] | null,
    ];
    if (!ok || !g) break;
    const a0 = g[0]!;
    const a1 = g[1]!;
    out += src.slice(lastMatchEnd, a0);
    // An empty match right after the previous match is not replaced (Go's rule).
    if (a1 > lastMatchEnd || a0 === 0) out += expand(re, repl, src, g);
    lastMatchEnd = a1;
    const cp = src.codePointAt(searchPos);
    const width = cp === undefined ? 1 : cp > 0xffff ? 2 : 1;
    searchPos = Math.max(searchPos + width, a1);
  }
  return out + src.slice(lastMatchEnd);
}
