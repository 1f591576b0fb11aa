import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixtureRepo = fileURLToPath(new URL('../../../testdata/depgraph/repo', import.meta.url));
export const corpus = fileURLToPath(new URL('../../../../shared/corpora/wolfi-os', import.meta.url));

/** A private copy of the fixture repository, for tests that modify files. */
export function copyFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'depgraph-'));
  cpSync(fixtureRepo, join(dir, 'repo'), { recursive: true });
  return join(dir, 'repo');
}

export function tempCacheDir(): string {
  return mkdtempSync(join(tmpdir(), 'depgraph-cache-'));
}
