import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

/**
 * One temp dir per test run (vitest `globalSetup`), under MELANGE2_TEST_TMPDIR when set (scripts/test
 * checks that it ends empty), else the usual temp dir. Each test file gets its own TMPDIR inside it
 * (temp-root.ts); the teardown removes whatever a file could not, e.g. a file whose tests were all
 * skipped (its hooks never run) or a process a test killed before it cleaned up.
 */
export default function setup(project: TestProject): () => void {
  const parent = process.env['MELANGE2_TEST_TMPDIR'] || tmpdir();
  // Short: daemons started in tests put unix sockets (at most 107 bytes) below it.
  const root = mkdtempSync(join(parent, 'm2-v-'));
  project.provide('tempRoot', root);
  return () => rmSync(root, { recursive: true, force: true, maxRetries: 3 });
}
