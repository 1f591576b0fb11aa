/**
 * melange's `${{key}}` substitution.
 *
 * A reference is `${{`, optional spaces, a key of `[A-Za-z0-9._-]`, optional spaces, `}}`
 * (the grammar of melange's `cond.Subst`). Keys are given without the braces: `package.name`,
 * `vars.foo`, `inputs.bar`, `targets.destdir`, `range.key`, ….
 */

const REF = /\$\{\{ *([A-Za-z0-9._-]+) *\}\}/g;

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
  if (!text.includes('${{')) return text;
  return text.replace(REF, (whole, key: string) => {
    const v = lookupVariable(vars, key);
    return v === undefined ? whole : v;
  });
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
  if (!text.includes('${{')) return text;
  return text.replace(REF, (_whole, key: string) => {
    const v = lookupVariable(vars, key);
    if (v === undefined) throw new UnknownVariableError(key, text);
    return v;
  });
}

/** The keys referenced by `${{…}}` in `text`, in order of appearance (duplicates kept). */
export function referencedKeys(text: string): string[] {
  if (!text.includes('${{')) return [];
  return Array.from(text.matchAll(REF), (m) => m[1]!);
}

/**
 * Substitution for `if:` expressions: a reference inside a quoted literal is replaced by its
 * value, one outside quotes by a quoted literal, so `${{package.name}} == 'foo'` stays an
 * expression. (melange replaces parse-time variables unquoted there, which turns such a
 * condition into a syntax error; `'"${{range.key}}" == ""'`, which Wolfi uses, works either way.)
 */
export function substituteCondition(text: string, vars: Readonly<Record<string, string>>): string {
  if (!text.includes('${{')) return text;
  let out = '';
  let quote: string | undefined;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (quote === undefined && text.startsWith('${{', i)) {
      REF.lastIndex = i;
      const m = REF.exec(text);
      if (m && m.index === i) {
        const v = lookupVariable(vars, m[1]!);
        out += v === undefined ? m[0] : `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
        i += m[0].length;
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
    if (quote !== undefined && text.startsWith('${{', i)) {
      // Inside a literal: the value as text.
      REF.lastIndex = i;
      const m = REF.exec(text);
      if (m && m.index === i) {
        const v = lookupVariable(vars, m[1]!);
        out += v === undefined ? m[0] : v;
        i += m[0].length;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}
