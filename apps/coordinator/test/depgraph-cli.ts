import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli/main.js';

export const fixtureRepo = fileURLToPath(new URL('../../../testdata/depgraph/repo', import.meta.url));

export function copyFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'depgraph-cli-'));
  cpSync(fixtureRepo, join(dir, 'repo'), { recursive: true });
  return join(dir, 'repo');
}

/** Runs `melange2-orch …` in-process and captures what a user would see. */
export async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => {
    out += String(s);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => {
    err += String(s);
    return true;
  }) as typeof process.stderr.write;
  const prev = process.exitCode;
  process.exitCode = undefined;
  try {
    return { code: await main(['node', 'melange2-orch', ...args]), out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    process.exitCode = prev;
  }
}
