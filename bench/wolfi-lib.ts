/** The Wolfi corpus the benches run on, and its plan (both arches, nothing published). */
import { fileURLToPath } from 'node:url';

/** `WOLFI_CORPUS`, else ../shared/corpora/wolfi-os beside the checkout. */
export const wolfiCorpus =
  process.env['WOLFI_CORPUS'] ?? fileURLToPath(new URL('../../shared/corpora/wolfi-os', import.meta.url));

/** What a bench's `runDistributed` takes for all of Wolfi, as `planWolfi` plans it. */
export const wolfiRunInputs = {
  repo: wolfiCorpus,
  arches: ['x86_64', 'aarch64'],
  cacheDir: '.melange2/cache',
  workers: 0,
} as const;

export async function planWolfi() {
  const { planRun } = await import('@melange2/coordinator/internal');
  return planRun({
    repo: wolfiCorpus,
    arches: ['x86_64', 'aarch64'],
    published: new Map(),
    cacheDir: '.melange2/cache',
    // Parse workers do not start under the tsx loader here; in-process parsing takes ~2 s.
    workers: 0,
  });
}
