import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const fixtureRepo = fileURLToPath(new URL('../../../testdata/depgraph/repo', import.meta.url));

export function copyFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'depgraph-cli-'));
  cpSync(fixtureRepo, join(dir, 'repo'), { recursive: true });
  return join(dir, 'repo');
}

/** Runs `melange2-orch …` in-process and captures what a user would see. */
export { runCli as run } from './cli-helpers-apk.js';
