/**
 * Go `regexp` (RE2 syntax) on JavaScript's RegExp engine.
 *
 * melange compiles `var-transforms[].match` with Go's `regexp.Compile` and applies it with
 * `ReplaceAllString`. The two engines disagree in ways that change results on real configs, so a
 * pattern is translated token by token instead of being handed to `new RegExp` as it stands:
 *
 * - escaped punctuation (`\_`, `\-`) is a literal in RE2 but a syntax error in a `u` RegExp;
 * - `.` excludes only `\n` in RE2 (JS also excludes `\r`, U+2028, U+2029);
 * - `\s` is `[\t\n\f\r ]` in RE2 (JS adds `\v` and Unicode spaces);
 * - `(?P<name>…)`, `(?flags)` scoped to the rest of the group, `(?U)`, `\A`, `\z`, `\Q…\E`,
 *   `[[:alpha:]]`, `\pL`, octal `\123` and a `{` that does not start a repeat are RE2 syntax;
 * - backreferences and lookaround do not exist in RE2 and must be rejected as Go rejects them;
 * - `ReplaceAllString` skips an empty match right after a previous match (JS does not), and
 *   expands `$name`/`${name}` with Go's rules (`$1x` names the group "1x", which is empty).
 */

/** A pattern Go's `regexp.Compile` would reject, with the offset where translation stopped. */
export class Re2SyntaxError extends Error {
  override readonly name = 'Re2SyntaxError';
  constructor(
    readonly pattern: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`invalid regular expression ${JSON.stringify(pattern)} at offset ${offset}: ${reason}`);
  }
}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  U: boolean;
}

interface GroupFrame {
  /** Flags in force when the group opened; restored when it closes. */
  outer: Flags;
  /** How many `(?i:` wrappers were opened by `(?i)` inside this group and must close with it. */
  wrappers: number;
  /** The case-insensitivity of each wrapper, to reopen them after `|`. */
  wrapperFlags: string[];
}

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7f',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

const PERL_CLASSES: Readonly<Record<string, string>> = {
  d: '0-9',
  s: '\\t\\n\\f\\r ',
  w: '0-9A-Za-z_',
};

// Characters that must be escaped to be literal outside a class in a `u` RegExp.
const SYNTAX_OUTSIDE = new Set('^$\\.*+?()[]{}|/');
// ...and inside a class.
const SYNTAX_INSIDE = new Set('\\]-^[');

const hex = (cp: number): string => `\\u{${cp.toString(16)}}`;

function literalOutside(cp: number): string {
  const ch = String.fromCodePoint(cp);
  if (SYNTAX_OUTSIDE.has(ch)) return `\\${ch}`;
  if (cp < 0x20 || cp === 0x7f) return hex(cp);
  return ch;
}

function literalInside(cp: number): string {
  const ch = String.fromCodePoint(cp);
  if (SYNTAX_INSIDE.has(ch)) return `\\${ch}`;
  if (cp < 0x20 || cp === 0x7f) return hex(cp);
  return ch;
}

const isAlnum = (cp: number): boolean =>
  (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
const isOctal = (ch: string | undefined): boolean => ch !== undefined && ch >= '0' && ch <= '7';
const isHex = (ch: string | undefined): boolean => ch !== undefined && /^[0-9A-Fa-f]$/.test(ch);

/** Go's maximum repeat count (`syntax.ErrInvalidRepeatSize` above it). */
const MAX_REPEAT = 1000;

type Escape =
  | { kind: 'char'; cp: number }
  /** A class such as `\d` or `\pL`, as text for outside (`out`) and inside (`in`) a class. */
  | { kind: 'class'; out: string; in: string }
  | { kind: 'assert'; out: string }
  | { kind: 'quote'; text: string };

class Translator {
  private pos = 0;
  private out = '';
  private flags: Flags = { i: false, m: false, s: false, U: false };
  private readonly stack: GroupFrame[] = [{ outer: this.flags, wrappers: 0, wrapperFlags: [] }];
  /** Whether the last emitted item can take a repetition operator. */
  private canRepeat = false;
  /** Whether the last item was itself a repetition (Go rejects `a**`). */
  private lastWasRepeat = false;
  private groupCount = 0;

  constructor(private readonly pattern: string) {}

  private fail(reason: string, at = this.pos): never {
    throw new Re2SyntaxError(this.pattern, at, reason);
  }

  private peek(k = 0): string | undefined {
    return this.pattern[this.pos + k];
  }

  private nextCodePoint(): number {
    const cp = this.pattern.codePointAt(this.pos);
    if (cp === undefined) this.fail('unexpected end of pattern');
    this.pos += cp > 0xffff ? 2 : 1;
    return cp;
  }

  translate(): { source: string; groups: number } {
    const p = this.pattern;
    while (this.pos < p.length) {
      const ch = p[this.pos]!;
      switch (ch) {
        case '(':
          this.openGroup();
          break;
        case ')':
          this.closeGroup();
          break;
        case '|':
          this.pos++;
          this.alternate();
          break;
        case '[':
          this.emitAtom(this.parseClass());
          break;
        case '*':
        case '+':
        case '?':
          this.pos++;
          this.repeat(ch);
          break;
        case '{': {
          const rep = this.tryRepeatBraces();
          if (rep === null) {
            this.pos++;
            this.emitAtom('\\{');
          } else this.repeat(rep);
          break;
        }
        case '^':
          this.pos++;
          this.emitAssert(this.flags.m ? '(?<![^\\n])' : '^');
          break;
        case '$':
          this.pos++;
          this.emitAssert(this.flags.m ? '(?![^\\n])' : '$');
          break;
        case '.':
          this.pos++;
          this.emitAtom(this.flags.s ? '[^]' : '[^\\n]');
          break;
        case '\\': {
          const e = this.parseEscape(false);
          if (e.kind === 'char') this.emitAtom(literalOutside(e.cp));
          else if (e.kind === 'class') this.emitAtom(e.out);
          else if (e.kind === 'assert') this.emitAssert(e.out);
          else for (const c of e.text) this.emitAtom(literalOutside(c.codePointAt(0)!));
          break;
        }
        default:
          this.emitAtom(literalOutside(this.nextCodePoint()));
      }
    }
    if (this.stack.length > 1) this.fail('missing closing )');
    this.closeWrappers(this.stack[0]!);
    return { source: this.out, groups: this.groupCount };
  }

  private emitAtom(text: string): void {
    this.out += text;
    this.canRepeat = true;
    this.lastWasRepeat = false;
  }

  private emitAssert(text: string): void {
    // Go allows repeating an empty-width assertion (`^*`); JS does not. Grouping keeps both happy.
    this.out += `(?:${text})`;
    this.canRepeat = true;
    this.lastWasRepeat = false;
  }

  private repeat(op: string): void {
    if (!this.canRepeat) this.fail(`missing argument to repetition operator ${op}`, this.pos - 1);
    if (this.lastWasRepeat) this.fail(`invalid nested repetition operator ${op}`, this.pos - 1);
    let lazy = false;
    if (this.peek() === '?') {
      this.pos++;
      lazy = true;
    }
    if (this.flags.U) lazy = !lazy;
    this.out += op + (lazy ? '?' : '');
    this.lastWasRepeat = true;
  }

  /** `{n}`, `{n,}` or `{n,m}` at the cursor (consumed), or null when `{` is a literal. */
  private tryRepeatBraces(): string | null {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.pattern.slice(this.pos));
    if (!m) return null;
    const lo = Number(m[1]);
    const hi = m[3] === undefined || m[3] === '' ? undefined : Number(m[3]);
    if (lo > MAX_REPEAT || (hi !== undefined && hi > MAX_REPEAT)) this.fail(`invalid repeat count ${m[0]}`);
    if (hi !== undefined && hi < lo) this.fail(`invalid repeat count ${m[0]}`);
    this.pos += m[0].length;
    return m[0];
  }

  private openGroup(): void {
    const start = this.pos;
    const p = this.pattern;
    this.pos++;
    if (p[this.pos] !== '?') {
      this.groupCount++;
      this.pushGroup('(');
      return;
    }
    this.pos++;
    const next = p[this.pos];
    if (next === 'P' && p[this.pos + 1] === '<') {
      this.pos += 2;
      this.namedGroup(start);
      return;
    }
    if (next === '<') {
      if (p[this.pos + 1] === '=' || p[this.pos + 1] === '!')
        this.fail('lookbehind is not supported by RE2', start);
      this.pos++;
      this.namedGroup(start);
      return;
    }
    if (next === '=' || next === '!') this.fail('lookahead is not supported by RE2', start);
    // Flags: (?flags) or (?flags:re), flags = [imsU]* optionally followed by - [imsU]*.
    const m = /^([imsU]*)(?:-([imsU]*))?([:)])/.exec(p.slice(this.pos));
    if (!m || (m[2] !== undefined && m[2] === '') || (m[1] === '' && m[2] === undefined && m[3] === ')'))
      this.fail('invalid or unsupported Perl syntax', start);
    this.pos += m[0].length;
    const flags = { ...this.flags };
    for (const f of m[1]!) flags[f as keyof Flags] = true;
    for (const f of m[2] ?? '') flags[f as keyof Flags] = false;
    if (m[3] === ':') {
      this.pushGroup(this.openerFor(flags), flags);
      return;
    }
    // `(?i)` changes flags for the rest of the current group, alternatives included.
    const frame = this.stack[this.stack.length - 1]!;
    const caseChanged = flags.i !== this.flags.i;
    this.flags = flags;
    if (caseChanged) {
      const wrapper = flags.i ? '(?i:' : '(?-i:';
      frame.wrappers++;
      frame.wrapperFlags.push(wrapper);
      this.out += wrapper;
    }
    this.canRepeat = false;
    this.lastWasRepeat = false;
  }

  private openerFor(flags: Flags): string {
    if (flags.i === this.flags.i) return '(?:';
    return flags.i ? '(?i:' : '(?-i:';
  }

  private namedGroup(start: number): void {
    const m = /^([A-Za-z0-9_]+)>/.exec(this.pattern.slice(this.pos));
    if (!m) this.fail('invalid named capture', start);
    this.pos += m[0].length;
    this.groupCount++;
    // JS group names must be identifiers; Go allows a leading digit. Keep numbering, drop the
    // name in that case (names matter only to `${name}` expansion, which uses `names`).
    this.names.set(m[1]!, this.groupCount);
    this.pushGroup(/^[A-Za-z_]/.test(m[1]!) ? `(?<${m[1]}>` : '(');
  }

  readonly names = new Map<string, number>();

  private pushGroup(opener: string, flags: Flags = this.flags): void {
    this.stack.push({ outer: this.flags, wrappers: 0, wrapperFlags: [] });
    this.flags = { ...flags };
    this.out += opener;
    this.canRepeat = false;
    this.lastWasRepeat = false;
  }

  private closeWrappers(frame: GroupFrame): void {
    this.out += ')'.repeat(frame.wrappers);
  }

  private closeGroup(): void {
    if (this.stack.length === 1) this.fail('unexpected )');
    this.pos++;
    const frame = this.stack.pop()!;
    this.closeWrappers(frame);
    this.flags = frame.outer;
    this.out += ')';
    this.canRepeat = true;
    this.lastWasRepeat = false;
  }

  private alternate(): void {
    const frame = this.stack[this.stack.length - 1]!;
    this.closeWrappers(frame);
    this.out += `|${frame.wrapperFlags.join('')}`;
    this.canRepeat = false;
    this.lastWasRepeat = false;
  }

  private parseEscape(inClass: boolean): Escape {
    const start = this.pos;
    this.pos++; // the backslash
    if (this.pos >= this.pattern.length) this.fail('trailing backslash at end of expression', start);
    const cp = this.nextCodePoint();
    const c = String.fromCodePoint(cp);
    if (cp < 0x80 && !isAlnum(cp)) return { kind: 'char', cp };
    switch (c) {
      case '0':
      case '1':
      case '2':
      case '3':
      case '4':
      case '5':
      case '6':
      case '7': {
        // A lone non-zero digit is a backreference in Perl; RE2 has none. Otherwise: octal.
        if (c !== '0' && !isOctal(this.peek())) this.fail('backreferences are not supported by RE2', start);
        let v = cp - 0x30;
        for (let k = 0; k < 2 && isOctal(this.peek()); k++) v = v * 8 + (this.nextCodePoint() - 0x30);
        return { kind: 'char', cp: v };
      }
      case 'a':
        return { kind: 'char', cp: 7 };
      case 'f':
        return { kind: 'char', cp: 12 };
      case 't':
        return { kind: 'char', cp: 9 };
      case 'n':
        return { kind: 'char', cp: 10 };
      case 'r':
        return { kind: 'char', cp: 13 };
      case 'v':
        return { kind: 'char', cp: 11 };
      case 'x': {
        if (this.peek() === '{') {
          const m = /^\{([0-9A-Fa-f]+)\}/.exec(this.pattern.slice(this.pos));
          if (!m) this.fail('invalid escape sequence \\x{', start);
          const v = Number.parseInt(m[1]!, 16);
          if (v > 0x10ffff) this.fail('invalid escape sequence: code point out of range', start);
          this.pos += m[0].length;
          return { kind: 'char', cp: v };
        }
        if (!isHex(this.peek()) || !isHex(this.peek(1))) this.fail('invalid escape sequence \\x', start);
        const v = Number.parseInt(this.pattern.slice(this.pos, this.pos + 2), 16);
        this.pos += 2;
        return { kind: 'char', cp: v };
      }
      case 'd':
      case 's':
      case 'w':
        return { kind: 'class', out: `[${PERL_CLASSES[c]}]`, in: PERL_CLASSES[c]! };
      case 'D':
      case 'S':
      case 'W': {
        const body = PERL_CLASSES[c.toLowerCase()]!;
        // Inside a class a negated set cannot be spliced in; JS's own \D \S \W are the
        // closest (they differ from RE2 only for Unicode spaces in \S).
        return { kind: 'class', out: `[^${body}]`, in: `\\${c}` };
      }
      case 'p':
      case 'P':
        return this.unicodeClass(c === 'P', start);
      case 'A':
        if (inClass) this.fail('invalid escape sequence \\A', start);
        return { kind: 'assert', out: '^' };
      case 'z':
        if (inClass) this.fail('invalid escape sequence \\z', start);
        return { kind: 'assert', out: '$' };
      case 'b':
      case 'B':
        if (inClass) this.fail(`invalid escape sequence \\${c}`, start);
        // ASCII word boundary, spelled out so a case-insensitive `u` RegExp cannot widen it.
        return {
          kind: 'assert',
          out:
            c === 'b'
              ? '(?:(?<=[0-9A-Za-z_])(?![0-9A-Za-z_])|(?<![0-9A-Za-z_])(?=[0-9A-Za-z_]))'
              : '(?:(?<=[0-9A-Za-z_])(?=[0-9A-Za-z_])|(?<![0-9A-Za-z_])(?![0-9A-Za-z_]))',
        };
      case 'C':
        return { kind: 'class', out: '[^]', in: '\\s\\S' };
      case 'Q': {
        if (inClass) this.fail('invalid escape sequence \\Q', start);
        const end = this.pattern.indexOf('\\E', this.pos);
        const text = this.pattern.slice(this.pos, end < 0 ? undefined : end);
        this.pos = end < 0 ? this.pattern.length : end + 2;
        return { kind: 'quote', text };
      }
      default:
        return this.fail(`invalid escape sequence \\${c}`, start);
    }
  }

  private unicodeClass(negated: boolean, start: number): Escape {
    let name: string;
    if (this.peek() === '{') {
      const end = this.pattern.indexOf('}', this.pos);
      if (end < 0) this.fail('invalid character class range', start);
      name = this.pattern.slice(this.pos + 1, end);
      this.pos = end + 1;
    } else {
      if (this.pos >= this.pattern.length) this.fail('invalid character class range', start);
      name = String.fromCodePoint(this.nextCodePoint());
    }
    if (name.startsWith('^')) {
      negated = !negated;
      name = name.slice(1);
    }
    let prop: string;
    if (name === 'Any') {
      return negated
        ? { kind: 'class', out: '[^\\s\\S]', in: '' }
        : { kind: 'class', out: '[^]', in: '\\s\\S' };
    }
    if (/^[A-Z][a-z&]?$/.test(name)) prop = name === 'L&' ? 'LC' : name;
    else if (/^[A-Z][A-Za-z_]*$/.test(name)) prop = `Script=${name}`;
    else this.fail(`invalid character class range \\p{${name}}`, start);
    const text = `\\${negated ? 'P' : 'p'}{${prop}}`;
    try {
      new RegExp(text, 'u');
    } catch {
      this.fail(`invalid character class range \\p{${name}}`, start);
    }
    return { kind: 'class', out: text, in: text };
  }

  /** A bracket expression, translated to a JS class (the cursor is on `[`). */
  private parseClass(): string {
    const start = this.pos;
    const p = this.pattern;
    this.pos++;
    let negated = false;
    if (p[this.pos] === '^') {
      negated = true;
      this.pos++;
    }
    let body = '';
    let first = true;
    for (;;) {
      if (this.pos >= p.length) this.fail('missing closing ]', start);
      const ch = p[this.pos]!;
      if (ch === ']' && !first) {
        this.pos++;
        break;
      }
      first = false;
      if (ch === '[' && p[this.pos + 1] === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(p.slice(this.pos));
        if (m) {
          const set = POSIX_CLASSES[m[2]!];
          if (set === undefined) this.fail(`invalid character class range ${m[0]}`);
          this.pos += m[0].length;
          // A negated POSIX class inside a class has no JS spelling; nest via lookahead-free
          // alternation is impossible in a class, so only the forms Go programs use are taken.
          if (m[1] === '^') this.fail(`negated POSIX class ${m[0]} is not supported`);
          body += set;
          continue;
        }
      }
      const lo = this.classAtom();
      if (lo.kind === 'class') {
        body += lo.in;
        continue;
      }
      if (p[this.pos] === '-' && p[this.pos + 1] !== ']' && this.pos + 1 < p.length) {
        this.pos++;
        const hi = this.classAtom();
        if (hi.kind === 'class') this.fail('invalid character class range', start);
        if (hi.cp < lo.cp) this.fail('invalid character class range', start);
        body += `${literalInside(lo.cp)}-${literalInside(hi.cp)}`;
      } else body += literalInside(lo.cp);
    }
    return `[${negated ? '^' : ''}${body}]`;
  }

  private classAtom(): { kind: 'char'; cp: number } | { kind: 'class'; in: string } {
    if (this.pattern[this.pos] === '\\') {
      const e = this.parseEscape(true);
      if (e.kind === 'char') return e;
      if (e.kind === 'class') return { kind: 'class', in: e.in };
      return this.fail('invalid escape in character class');
    }
    return { kind: 'char', cp: this.nextCodePoint() };
  }
}

/** A compiled Go regexp: the JS RegExp (global, unicode) plus what replacement needs. */
export interface GoRegExp {
  readonly pattern: string;
  readonly regexp: RegExp;
  /** Number of capturing groups. */
  readonly groups: number;
  /** Named groups → group number (Go's `SubexpNames`). */
  readonly names: ReadonlyMap<string, number>;
}

/** Translates an RE2 pattern to JavaScript `RegExp` source (to be used with the `u` flag). */
export function translateRe2(pattern: string): {
  source: string;
  groups: number;
  names: ReadonlyMap<string, number>;
} {
  const t = new Translator(pattern);
  const { source, groups } = t.translate();
  return { source, groups, names: t.names };
}

const cache = new Map<string, GoRegExp>();

/** Compiles an RE2 pattern like Go's `regexp.Compile` (memoized; throws {@link Re2SyntaxError}). */
export function compileRe2(pattern: string): GoRegExp {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const { source, groups, names } = translateRe2(pattern);
  let regexp: RegExp;
  try {
    regexp = new RegExp(source, 'gu');
  } catch (e) {
    throw new Re2SyntaxError(pattern, 0, (e as Error).message);
  }
  const compiled: GoRegExp = { pattern, regexp, groups, names };
  cache.set(pattern, compiled);
  return compiled;
}

const isNameChar = (ch: string): boolean => /^[\p{L}\p{Nd}_]$/u.test(ch) || /^[0-9]$/.test(ch);

/** Go's `Regexp.Expand` of a `ReplaceAllString` template for one match. */
function expand(re: GoRegExp, template: string, m: RegExpExecArray): string {
  if (!template.includes('$')) return template;
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
      const cp = template.codePointAt(j)!;
      const ch = String.fromCodePoint(cp);
      if (!isNameChar(ch)) break;
      name += ch;
      j += ch.length;
    }
    if (name === '' || (brace && template[j] !== '}')) {
      out += '$'; // malformed: the `$` is literal text
      continue;
    }
    i = brace ? j + 1 : j;
    let num = -1;
    if (/^\d+$/.test(name) && !(name.length > 1 && name[0] === '0') && name.length <= 8) num = Number(name);
    if (num < 0) num = re.names.get(name) ?? -1;
    if (num >= 0 && num <= re.groups) out += m[num] ?? '';
  }
  return out;
}

/** Go's `Regexp.ReplaceAllString(src, repl)`, empty-match rules included. */
export function replaceAllGo(re: GoRegExp, src: string, repl: string): string {
  const rx = re.regexp;
  let out = '';
  let lastMatchEnd = 0;
  let copied = 0;
  let searchPos = 0;
  while (searchPos <= src.length) {
    rx.lastIndex = searchPos;
    const m = rx.exec(src);
    if (!m) break;
    const a0 = m.index;
    const a1 = a0 + m[0].length;
    out += src.slice(copied, a0);
    copied = a0;
    if (a1 > lastMatchEnd || a0 === 0) {
      out += expand(re, repl, m);
      copied = a1;
    }
    lastMatchEnd = a1;
    const cp = src.codePointAt(searchPos);
    const width = cp === undefined ? 1 : cp > 0xffff ? 2 : 1;
    searchPos = Math.max(searchPos + width, a1);
  }
  return out + src.slice(copied);
}
