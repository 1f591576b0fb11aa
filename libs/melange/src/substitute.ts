/**
 * melange's `${{key}}` substitution.
 *
 * A reference is `${{`, optional spaces, a key of `[A-Za-z0-9._-]`, optional spaces, `}}`
 * (the grammar of melange's `cond.Subst`). Keys are given without the braces: `package.name`,
 * `vars.foo`, `inputs.bar`, `targets.destdir`, `range.key`, ….
 */

const OPEN = '${{';
const SPACE = 0x20;
const CLOSE = 0x7d; // }

/** `[A-Za-z0-9._-]`: a key character. */
function isKeyChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2e ||
    c === 0x5f ||
    c === 0x2d
  );
}

interface Ref {
  readonly start: number;
  /** Just after the closing `}}`. */
  readonly end: number;
  readonly key: string;
}

// A scan by hand rather than a global RegExp with a replacer: substitution runs on every string
// of every config in a repository scan, and this is twice as fast on the Wolfi corpus.
/** The reference that starts at `start` (`${{` there), or undefined when the text there is not one. */
function refAt(text: string, start: number): Ref | undefined {
  if (!text.startsWith(OPEN, start)) return undefined;
  let i = start + OPEN.length;
  while (text.charCodeAt(i) === SPACE) i++;
  const keyStart = i;
  while (i < text.length && isKeyChar(text.charCodeAt(i))) i++;
  const keyEnd = i;
  while (text.charCodeAt(i) === SPACE) i++;
  if (keyEnd === keyStart || text.charCodeAt(i) !== CLOSE || text.charCodeAt(i + 1) !== CLOSE)
    return undefined;
  return { start, end: i + 2, key: text.slice(keyStart, keyEnd) };
}

/** The first reference at or after `from`. */
function nextRef(text: string, from: number): Ref | undefined {
  for (let at = text.indexOf(OPEN, from); at >= 0; at = text.indexOf(OPEN, at + 1)) {
    const r = refAt(text, at);
    if (r) return r;
  }
  return undefined;
}

/** Replaces each reference with `value(ref)`; text without references is returned as is. */
function replaceRefs(text: string, value: (r: Ref) => string): string {
  let out = '';
  let from = 0;
  for (let r = nextRef(text, 0); r; r = nextRef(text, r.end)) {
    out += text.slice(from, r.start) + value(r);
    from = r.end;
  }
  return from === 0 ? text : out + text.slice(from);
}

/**
 * A variable's value: only string values count, so inherited object members (`constructor`)
 * never resolve, while scopes may inherit from parent scopes through the prototype chain.
 */
export function lookupVariable(vars: Readonly<Record<string, string>>, key: string): string | undefined {
  const v: unknown = vars[key];
  return typeof v === 'string' ? v : undefined;
}

/**
 * Replaces every `${{key}}` whose key is in `vars`; an unknown reference stays as it is (what
 * melange does when it substitutes config fields at parse time). Text without `${{` is returned
 * as the same string, so the common case costs one `includes`.
 */
export function substitute(text: string, vars: Readonly<Record<string, string>>): string {
  if (!text.includes(OPEN)) return text;
  return replaceRefs(text, (r) => lookupVariable(vars, r.key) ?? text.slice(r.start, r.end));
}

/** A `${{key}}` that names no variable where melange requires every reference to resolve. */
export class UnknownVariableError extends Error {
  override readonly name = 'UnknownVariableError';
  readonly code = 'UNKNOWN_VARIABLE';
  constructor(
    readonly key: string,
    readonly text: string,
  ) {
    super(
      `variable ${key} not defined (in ${JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text)})`,
    );
  }
}

/**
 * Like {@link substitute}, but an unknown reference is an error, as in melange's pipeline
 * compilation (`runs`, `with`, `if`, `working-directory`).
 */
export function substituteStrict(text: string, vars: Readonly<Record<string, string>>): string {
  if (!text.includes(OPEN)) return text;
  return replaceRefs(text, (r) => {
    const v = lookupVariable(vars, r.key);
    if (v === undefined) throw new UnknownVariableError(r.key, text);
    return v;
  });
}

/** The keys referenced by `${{…}}` in `text`, in order of appearance (duplicates kept). */
export function referencedKeys(text: string): string[] {
  const keys: string[] = [];
  for (let r = nextRef(text, 0); r; r = nextRef(text, r.end)) keys.push(r.key);
  return keys;
}

/**
 * Substitution for `if:` expressions: a reference inside a quoted literal is replaced by its
 * value, one outside quotes by a quoted literal, so `${{package.name}} == 'foo'` stays an
 * expression. (melange replaces parse-time variables unquoted there, which turns such a
 * condition into a syntax error; `'"${{range.key}}" == ""'`, which Wolfi uses, works either way.)
 */
export function substituteCondition(text: string, vars: Readonly<Record<string, string>>): string {
  if (!text.includes(OPEN)) return text;
  let out = '';
  let quote: string | undefined;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (quote === undefined) {
      const r = refAt(text, i);
      if (r) {
        const v = lookupVariable(vars, r.key);
        out +=
          v === undefined ? text.slice(i, r.end) : `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
        i = r.end;
        continue;
      }
    }
    if (quote !== undefined && c === '\\' && i + 1 < text.length) {
      out += c + text[i + 1]!;
      i += 2;
      continue;
    }
    if (quote === undefined && (c === "'" || c === '"')) quote = c;
    else if (c === quote) quote = undefined;
    if (quote !== undefined) {
      // Inside a literal: the value as text.
      const r = refAt(text, i);
      if (r) {
        out += lookupVariable(vars, r.key) ?? text.slice(i, r.end);
        i = r.end;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}
