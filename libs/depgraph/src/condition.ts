/**
 * melange `if:` conditions after substitution, e.g. `x86_64 == 'aarch64' || x86_64 == 'x86_64'`:
 * string comparisons joined by `&&`, `||` and parentheses. Anything else is not understood and
 * yields `undefined`; callers then keep the step (the safe side for a dependency graph).
 */

type Tok = { t: 'str'; v: string } | { t: 'op'; v: '==' | '!=' | '&&' | '||' | '(' | ')' };

function tokenize(s: string): Tok[] | undefined {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
    } else if (c === "'" || c === '"') {
      const j = s.indexOf(c, i + 1);
      if (j < 0) return undefined;
      out.push({ t: 'str', v: s.slice(i + 1, j) });
      i = j + 1;
    } else if (c === '(' || c === ')') {
      out.push({ t: 'op', v: c });
      i++;
    } else {
      const two = s.slice(i, i + 2);
      if (two === '==' || two === '!=' || two === '&&' || two === '||') {
        out.push({ t: 'op', v: two });
        i += 2;
      } else {
        const m = /^[A-Za-z0-9_.\-/+:${}]+/.exec(s.slice(i));
        if (!m) return undefined;
        out.push({ t: 'str', v: m[0] });
        i += m[0].length;
      }
    }
  }
  return out;
}

export function evalCondition(text: string): boolean | undefined {
  const toks = tokenize(text);
  if (!toks || toks.length === 0) return undefined;
  let i = 0;
  const peek = () => toks[i];
  const fail = Symbol('fail');
  const primary = (): boolean => {
    const t = toks[i++];
    if (!t) throw fail;
    if (t.t === 'op' && t.v === '(') {
      const v = or();
      const close = toks[i++];
      if (close?.t !== 'op' || close.v !== ')') throw fail;
      return v;
    }
    if (t.t !== 'str') throw fail;
    const op = toks[i++];
    const rhs = toks[i++];
    if (op?.t !== 'op' || (op.v !== '==' && op.v !== '!=') || rhs?.t !== 'str') throw fail;
    return op.v === '==' ? t.v === rhs.v : t.v !== rhs.v;
  };
  const and = (): boolean => {
    let v = primary();
    for (let p = peek(); p?.t === 'op' && p.v === '&&'; p = peek()) {
      i++;
      const r = primary();
      v = v && r;
    }
    return v;
  };
  const or = (): boolean => {
    let v = and();
    for (let p = peek(); p?.t === 'op' && p.v === '||'; p = peek()) {
      i++;
      const r = and();
      v = v || r;
    }
    return v;
  };
  try {
    const v = or();
    return i === toks.length ? v : undefined;
  } catch (e) {
    if (e === fail) return undefined;
    throw e;
  }
}
