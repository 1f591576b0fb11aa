import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixtureRepo = fileURLToPath(new URL('../../../testdata/depgraph/repo', import.meta.url));
/** `WOLFI_CORPUS`, else ../shared/corpora/wolfi-os beside the checkout (as the benches). */
export const corpus =
  process.env['WOLFI_CORPUS'] ??
  fileURLToPath(new URL('../../../../shared/corpora/wolfi-os', import.meta.url));

/** A private copy of the fixture repository, for tests that modify files. */
export function copyFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'depgraph-'));
  cpSync(fixtureRepo, join(dir, 'repo'), { recursive: true });
  return join(dir, 'repo');
}

export function tempCacheDir(): string {
  return mkdtempSync(join(tmpdir(), 'depgraph-cache-'));
}
