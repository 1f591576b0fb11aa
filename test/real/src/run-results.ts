/**
 * What a `scripts/test-real` run left behind, read back and validated: the build-all timeline
 * (`<out>/packages/.melange2-runs/<run>.json`, the latest), the test results (`tests.tsv`) and the
 * built packages per origin.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

const buildSchema = z.object({
  name: z.string(),
  arch: z.string(),
  version: z.string(),
  state: z.enum(['queued', 'running', 'succeeded', 'failed', 'skipped', 'up-to-date']),
  startedAt: z.number().optional(),
  finishedAt: z.number().optional(),
  steps: z.object({ total: z.number(), cached: z.number() }).optional(),
  reason: z.string().optional(),
});
const timelineSchema = z.object({
  runId: z.string(),
  startedAt: z.number(),
  finishedAt: z.number().optional(),
  builds: z.array(buildSchema),
  upToDate: z.array(z.object({ id: z.string(), version: z.string() })),
});
export type TimelineBuild = z.infer<typeof buildSchema>;

/**
 * The builds of every run under `<packages>/.melange2-runs`, the latest record of each package
 * (a run that found a package up to date keeps the one that built it), with the latest run's id.
 */
export async function buildRecords(
  packagesDir: string,
  arch: string,
): Promise<{ runId?: string; builds: Map<string, TimelineBuild> }> {
  const dir = join(packagesDir, '.melange2-runs');
  const runs = (await readdir(dir).catch(() => [] as string[]))
    .filter((f) => f.endsWith('.json') && !f.endsWith('.summary.json'))
    .sort();
  const builds = new Map<string, TimelineBuild>();
  let runId: string | undefined;
  for (const f of runs) {
    const parsed = timelineSchema.safeParse(JSON.parse(await readFile(join(dir, f), 'utf8')));
    if (!parsed.success) throw new Error(`${join(dir, f)}: not a run timeline: ${parsed.error.message}`);
    runId = parsed.data.runId;
    for (const b of parsed.data.builds) if (b.arch === arch) builds.set(b.name, b);
  }
  return { ...(runId !== undefined && { runId }), builds };
}

export interface TestResult {
  readonly result: 'passed' | 'failed' | 'not-built';
  readonly seconds: number;
}

/** `tests.tsv`: `<config>\t<passed|failed|not-built>\t<seconds>` per line. */
export function parseTests(text: string): Map<string, TestResult> {
  const out = new Map<string, TestResult>();
  for (const line of text.split('\n')) {
    const [name, result, secs] = line.split('\t');
    if (!name || (result !== 'passed' && result !== 'failed' && result !== 'not-built')) continue;
    out.set(name, { result, seconds: Number(secs) || 0 });
  }
  return out;
}
