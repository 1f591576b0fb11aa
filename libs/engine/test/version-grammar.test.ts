import { isValidVersion } from '@melange2/apk/internal';
import { isApkVersion } from '@melange2/melange/internal';
import { describe, expect, it } from 'vitest';

// @melange2/melange restates apk's version grammar as a regular expression (it may not depend on
// @melange2/apk): the two must agree.
describe('the parse-time version check', () => {
  it('agrees with apk on every version made of the grammar parts', () => {
    const parts = [
      '1',
      '.2',
      '.02',
      'a',
      'b',
      '_rc',
      '_p1',
      '_beta2',
      '_foo',
      '~ab',
      '~',
      '-r1',
      '-r',
      '-',
      '/',
      '..',
      '.',
      ' ',
    ];
    const versions = new Set<string>(['', '1.2.3', '0', '1.0a_p1_rc2~cafe-r10']);
    // Every sequence of up to four parts, starting with a digit or not.
    let layer = [''];
    for (let n = 0; n < 4; n++) {
      layer = layer.flatMap((v) => parts.map((p) => v + p));
      for (const v of layer) versions.add(v);
    }
    const disagree = [...versions].filter((v) => isApkVersion(v) !== isValidVersion(v));
    expect(disagree).toEqual([]);
  });
});
