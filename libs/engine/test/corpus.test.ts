import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileRepository } from '@melange2/engine';

const corpus = fileURLToPath(new URL('../../../../shared/corpora/wolfi-os', import.meta.url));
const present = existsSync(corpus);
if (!present) process.stdout.write(`corpus test skipped: ${corpus} not found\n`);

describe.skipIf(!present)('compile --all over the Wolfi corpus', () => {
  it.each(['x86_64', 'aarch64'])(
    'every config compiles to LLB for %s',
    (arch) => {
      const t0 = performance.now();
      const s = compileRepository(corpus, { arch });
      const ms = performance.now() - t0;
      process.stdout.write(
        `wolfi ${arch}: compiled ${s.compiled}/${s.total - s.skipped} (${s.skipped} not for ${arch}) in ${(ms / 1000).toFixed(1)}s\n`,
      );
      expect(s.failed.map((f) => f.reason)).toEqual([]);
      expect(s.total).toBeGreaterThan(3000);
      expect(s.compiled + s.skipped).toBe(s.total);
    },
    300_000,
  );
});
