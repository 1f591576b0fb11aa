import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { compileRe2, replaceAllGo } from '@melange2/melange/internal';

const testdata = fileURLToPath(new URL('../../../testdata/melange/', import.meta.url));

interface Vector {
  pattern: string;
  input: string;
  replace: string;
  output?: string;
  error?: boolean;
}

/** Patterns where re2js and Go's regexp are known to disagree (none so far). */
const KNOWN_DIFFERENCES = new Set<string>([]);

const vectors = JSON.parse(
  gunzipSync(readFileSync(`${testdata}re2-vectors/go-vectors.json.gz`)).toString('utf8'),
) as Vector[];

describe('var-transforms regexps against vectors computed with Go regexp', () => {
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
