import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compileRe2, replaceAllGo } from '../src/index.js';
import { testdata } from './helpers.js';

interface Vector {
  pattern: string;
  input: string;
  replace: string;
  output?: string;
  error?: boolean;
}

/**
 * Where a backtracking engine cannot follow RE2: an empty first alternative inside a repetition
 * (`(|a)+`) ends the loop in Go, while JavaScript rejects the empty iteration and takes `a`.
 * No melange config in the corpus comes near it.
 */
const KNOWN_DIFFERENCES = new Set(['(|a)+']);

const vectors = JSON.parse(
  gunzipSync(readFileSync(`${testdata}re2-vectors/go-vectors.json.gz`)).toString('utf8'),
) as Vector[];

describe('RE2 translation against vectors computed with Go regexp', () => {
  it(`agrees with Go on ${vectors.length} pattern × input × template cases`, () => {
    const mismatches: string[] = [];
    for (const v of vectors) {
      if (KNOWN_DIFFERENCES.has(v.pattern)) continue;
      let got: string | undefined;
      let error = false;
      try {
        got = replaceAllGo(compileRe2(v.pattern), v.input, v.replace);
      } catch {
        error = true;
      }
      const want = v.error ? 'ERROR' : JSON.stringify(v.output ?? '');
      const have = error ? 'ERROR' : JSON.stringify(got);
      if (want !== have)
        mismatches.push(
          `${JSON.stringify(v.pattern)} on ${JSON.stringify(v.input)} with ${JSON.stringify(v.replace)}: Go ${want}, ours ${have}`,
        );
    }
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(vectors.length).toBeGreaterThan(20_000);
  });
});
