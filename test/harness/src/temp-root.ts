import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, inject } from 'vitest';

/**
 * Runs before every test file (vitest `setupFiles`, see vitest.shared.ts): points TMPDIR at a
 * directory of the file's own, so every temp dir made through `os.tmpdir()` (by the tests, by the
 * code under test and by the CLI processes they spawn, which inherit the env) lands in it, and
 * removes it after the file's last test. The run's root (temp-global.ts) catches the rest.
 */
const own = mkdtempSync(`${inject('tempRoot')}/f-`);
const before = process.env['TMPDIR'];
process.env['TMPDIR'] = own;

afterAll(() => {
  if (before === undefined) delete process.env['TMPDIR'];
  else process.env['TMPDIR'] = before;
  rmSync(own, { recursive: true, force: true, maxRetries: 3 });
});
