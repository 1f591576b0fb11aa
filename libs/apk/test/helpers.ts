import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { generateKeyPair } from '@melange2/apk';

export function tmp(prefix = 'apk-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

let cached: Promise<{ privatePem: string; publicPem: string }> | undefined;
let cached2: Promise<{ privatePem: string; publicPem: string }> | undefined;
/** One 2048-bit key pair per test file (4096 is the CLI default, but slow to generate). */
export function testKey() {
  cached ??= generateKeyPair(2048);
  return cached;
}
export function otherKey() {
  cached2 ??= generateKeyPair(2048);
  return cached2;
}

/** Creates files under `root`: string → file content, `{ link }` → symlink, `null` → directory. */
export function tree(root: string, spec: Record<string, string | Buffer | { link: string } | null>): string {
  for (const [p, v] of Object.entries(spec)) {
    const abs = join(root, p);
    if (v === null) {
      mkdirSync(abs, { recursive: true });
      continue;
    }
    mkdirSync(dirname(abs), { recursive: true });
    if (typeof v === 'object' && !Buffer.isBuffer(v)) symlinkSync(v.link, abs);
    else writeFileSync(abs, v);
  }
  return root;
}
