/**
 * melange's `if:` expressions: string literals ('…' or "…") and `${{var}}` references compared
 * with `==`/`!=`, combined with `&&`/`||` (left to right, no precedence between them, as melange
 * parses them) and parentheses.
 */

export class ConditionError extends Error {
  override readonly name = 'ConditionError';
  readonly code = 'CONDITION';
  constructor(
    readonly expression: string,
    readonly position: number,
    readonly reason: string,
  ) {
    super(`${reason} at position ${position} in "${expression}"`);
  }
}

/** Resolves a `${{name}}` in an expression; undefined for an unknown name (an error). */
export type Lookup = (name: string) => string | undefined;

const REF = /\$\{\{ *([A-Za-z0-9._-]+) *\}\}/g;

class Parser {
  pos = 0;
  constructor(
    readonly input: string,
    readonly lookup: Lookup,
  ) {}

  fail(reason: string, at = this.pos): never {
    throw new ConditionError(this.input, at, reason);
  }

  ws(): void {
    while (this.pos < this.input.length && ' \t\n\r'.includes(this.input[this.pos]!)) this.pos++;
  }

  value(): string {
    this.ws();
    const s = this.input;
    if (this.pos >= s.length) this.fail('unexpected end of expression');
    const q = s[this.pos]!;
    if (q === "'" || q === '"') {
      const start = this.pos++;
      let out = '';
      while (this.pos < s.length && s[this.pos] !== q) {
        let c = s[this.pos]!;
        if (c === '\\' && this.pos + 1 < s.length) {
          c = s[++this.pos]!;
          out += c === 'n' ? '\n' : c === 't' ? '\t' : c === '\\' || c === "'" || c === '"' ? c : `\\${c}`;
        } else out += c;
        this.pos++;
      }
      if (this.pos >= s.length) this.fail('unterminated string literal', start);
      this.pos++;
      // A reference left inside a literal (`"${{build.arch}}" == "x86_64"`) means its value.
      return out.includes('${{') ? out.replace(REF, (w, k: string) => this.lookup(k) ?? w) : out;
    }
    if (s.startsWith('${{', this.pos)) {
      const start = this.pos;
      this.pos += 3;
      this.ws();
      const m = /^[A-Za-z0-9._-]+/.exec(s.slice(this.pos));
      if (!m) this.fail('empty variable name');
      this.pos += m[0].length;
      this.ws();
      if (!s.startsWith('}}', this.pos)) this.fail(`unterminated variable reference "${m[0]}"`, start);
      this.pos += 2;
      const v = this.lookup(m[0]);
      if (v === undefined) this.fail(`variable ${m[0]} not defined`, start);
      return v;
    }
    return this.fail(`unexpected character "${q}" (expected a quoted string or \${{variable}})`);
  }

  comparison(): boolean {
    const lhs = this.value();
    this.ws();
    const op = this.input.slice(this.pos, this.pos + 2);
    if (op !== '==' && op !== '!=') this.fail(`expected == or != but found "${op}"`);
    this.pos += 2;
    const rhs = this.value();
    return op === '==' ? lhs === rhs : lhs !== rhs;
  }

  atom(): boolean {
    this.ws();
    if (this.input[this.pos] === '(') {
      this.pos++;
      const r = this.expr();
      this.ws();
      if (this.input[this.pos] !== ')') this.fail('expected ")"');
      this.pos++;
      return r;
    }
    return this.comparison();
  }

  expr(): boolean {
    let result = this.atom();
    for (;;) {
      this.ws();
      const op = this.input.slice(this.pos, this.pos + 2);
      if (op !== '&&' && op !== '||') return result;
      this.pos += 2;
      const rhs = this.atom();
      result = op === '&&' ? result && rhs : result || rhs;
    }
  }
}

/** Evaluates an `if:` expression; throws {@link ConditionError} on bad syntax or an unknown variable. */
export function evaluateCondition(expression: string, lookup: Lookup = () => ''): boolean {
  const p = new Parser(expression, lookup);
  const r = p.expr();
  p.ws();
  if (p.pos !== expression.length) p.fail(`unexpected trailing input "${expression.slice(p.pos)}"`);
  return r;
}
