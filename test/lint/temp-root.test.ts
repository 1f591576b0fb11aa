import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';

// What test/harness/src/temp-root.ts promises every test file (and scripts/test relies on).
describe('temp dirs of a test file', () => {
  it('land in a TMPDIR of the file its own, inside the run root, for the tests and the processes they spawn', () => {
    const own = tmpdir();
    expect(dirname(own)).toBe(inject('tempRoot'));
    const made = mkdtempSync(join(tmpdir(), 'probe-'));
    expect(dirname(made)).toBe(own);
    const child = execFileSync(
      process.execPath,
      ['-e', 'process.stdout.write(require("node:os").tmpdir())'],
      {
        encoding: 'utf8',
      },
    );
    expect(child).toBe(own);
    expect(existsSync(made)).toBe(true);
  });
});
