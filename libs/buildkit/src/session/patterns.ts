import { posix } from 'node:path';

/**
 * dockerignore-style path patterns (what fsutil's include/exclude filters use): `*` and `?` stay
 * within one path element, `**` spans elements, `!` re-includes, the last matching pattern wins,
 * and a pattern that matches a directory matches everything below it.
 */
export interface Pattern {
  readonly source: string;
  readonly negate: boolean;
  readonly re: RegExp;
  /** One expression per path element; undefined when the pattern may span elements (`**`, escapes). */
  readonly elements: readonly RegExp[] | undefined;
}

function compilePattern(p: string): Pattern {
  let s = p.trim();
  let negate = false;
  if (s.startsWith('!')) {
    negate = true;
    s = s.slice(1).trim();
  }
  s = posix.normalize(s).replace(/^\/+/, '').replace(/\/+$/, '');
  if (s === '.' || s === '') s = '';
  if (s.startsWith('../') || s === '..')
    throw new Error(`pattern ${JSON.stringify(p)} points outside the directory`);
  return { source: p, negate, re: toRegExp(s, p), elements: elementsOf(s, p) };
}

/** Per-element expressions of a pattern that cannot span elements; undefined when it may. */
function elementsOf(s: string, original: string): RegExp[] | undefined {
  // `**` spans elements; an escape or a `[…]` class may hold a `/`.
  if (s.includes('**') || s.includes('\\') || /\[[^\]]*\//.test(s)) return undefined;
  return s.split('/').map((e) => toRegExp(e, original));
}

function toRegExp(s: string, original: string): RegExp {
  let re = '^';
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '*') {
      if (s[i + 1] === '*') {
        i++;
        // `**/` also matches zero directories.
        if (s[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else if (c === '[') {
      const end = s.indexOf(']', i + 1);
      if (end < 0) throw new Error(`pattern ${JSON.stringify(original)}: unterminated [`);
      let cls = s.slice(i + 1, end);
      if (cls.startsWith('^') || cls.startsWith('!')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < s.length) {
      i++;
      re += escapeRe(s[i] as string);
    } else {
      re += escapeRe(c);
    }
  }
  return new RegExp(`${re}$`);
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

export class PatternMatcher {
  readonly patterns: readonly Pattern[];
  readonly hasNegations: boolean;

  constructor(patterns: readonly string[]) {
    this.patterns = patterns.filter((p) => p.trim() !== '').map(compilePattern);
    this.hasNegations = this.patterns.some((p) => p.negate);
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** True when the last pattern matching `rel` or one of its parents is not a negation. */
  matches(rel: string): boolean {
    const parts = rel.split('/');
    let matched = false;
    for (const p of this.patterns) {
      if (matched !== p.negate) continue;
      let hit = p.re.test(rel);
      // A pattern that matches a parent directory matches its contents too.
      for (let n = 1; !hit && n < parts.length; n++) {
        hit = p.re.test(parts.slice(0, n).join('/'));
      }
      if (hit) matched = !p.negate;
    }
    return matched;
  }

  /**
   * False when no pattern can match anything below the directory `rel` (which does not match
   * itself): a walk need not descend into it. True whenever unsure (`**`, escapes).
   */
  mayMatchBelow(rel: string): boolean {
    const parts = rel.split('/');
    return this.patterns.some(
      (p) =>
        !p.negate &&
        (p.elements === undefined ||
          (p.elements.length > parts.length && parts.every((part, i) => p.elements![i]!.test(part)))),
    );
  }
}
