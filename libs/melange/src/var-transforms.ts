import { compileRe2, Re2SyntaxError, replaceAllGo } from './regexp.js';
import { substitute } from './substitute.js';

/** One `var-transforms[]` entry of a melange config. */
export interface VarTransform {
  readonly from: string;
  readonly match: string;
  readonly replace: string;
  readonly to: string;
}

/** A var-transform whose `match` is not a valid Go regular expression. */
export class VarTransformError extends Error {
  override readonly name = 'VarTransformError';
  readonly code = 'VAR_TRANSFORM';
  constructor(
    /** Index in `var-transforms`. */
    readonly index: number,
    readonly field: 'match' | 'to',
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`var-transforms[${index}].${field}: ${reason}`, options);
  }
}

/**
 * melange's var-transforms, in order: substitute `from` with the variables known so far (earlier
 * transforms included), replace every match of `match` (Go RE2 semantics, `$1`/`${1}`/`${name}`
 * expansion) with `replace`, and set `vars.<to>`.
 *
 * `vars` uses substitution keys (`package.version`, `vars.x`, …). The result is a new object: the
 * input plus one `vars.<to>` per transform; the input is not modified.
 */
export function applyVarTransforms(
  transforms: readonly VarTransform[],
  vars: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = { ...vars };
  transforms.forEach((t, index) => {
    if (t.to === '') throw new VarTransformError(index, 'to', 'must not be empty');
    let re: ReturnType<typeof compileRe2>;
    try {
      re = compileRe2(t.match);
    } catch (e) {
      if (e instanceof Re2SyntaxError)
        throw new VarTransformError(index, 'match', `${e.message} (expected a Go regular expression)`, {
          cause: e,
        });
      throw e;
    }
    out[`vars.${t.to}`] = replaceAllGo(re, substitute(t.from, out), t.replace);
  });
  return out;
}
