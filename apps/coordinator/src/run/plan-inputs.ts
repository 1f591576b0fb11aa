import { randomBytes } from 'node:crypto';
import { Keyring, publicPemOf, type SigningKey } from '@melange2/apk';
import type { Arch } from '@melange2/depgraph';
import type { StateStore } from '@melange2/queue';
import type { RepositoryStore } from '../repository/index.js';
import { planRun, type RunPlan } from './plan-run.js';
import { buildKey, legacyRunKey, runKey, type StateRecord } from './state.js';

/** What both run modes plan from, and how a run finds its id: shared by embedded and distributed. */

export interface PlanInputs {
  readonly repo: string;
  readonly arches: readonly Arch[];
  readonly changedSince?: string;
  readonly withDependents?: boolean;
  readonly cacheDir?: string | false;
  readonly workers?: number;
}

/**
 * Plans against what the repository store has published; the builds' costs are their recorded
 * durations where there are some. Those are read after planning and only for the builds in the
 * plan (a no-op run reads none), and they are not part of the plan memo's key: a run that records
 * new durations leaves the next run's plan memo valid.
 */
export async function planAgainst(
  store: Pick<RepositoryStore, 'readIndex'>,
  state: StateStore<StateRecord>,
  p: PlanInputs,
  indexes?: ReadonlyMap<string, Buffer | undefined>,
): Promise<RunPlan> {
  // Read before planning, not in flight while it takes the CPU (a reply read late would time out).
  const published = indexes ?? (await readIndexes(store, p.arches));
  const plan = await planRun({
    repo: p.repo,
    arches: p.arches,
    published,
    ...(p.changedSince !== undefined ? { changedSince: p.changedSince } : {}),
    ...(p.withDependents ? { withDependents: true } : {}),
    ...(p.cacheDir !== undefined ? { cacheDir: p.cacheDir } : {}),
    ...(p.workers !== undefined ? { workers: p.workers } : {}),
  });
  return withRecordedDurations(plan, state);
}

/** Each arch's published index (`APKINDEX.tar.gz` bytes), or undefined where there is none yet. */
export async function readIndexes(
  store: Pick<RepositoryStore, 'readIndex'>,
  arches: readonly string[],
): Promise<Map<string, Buffer | undefined>> {
  const bytes = await Promise.all(arches.map((a) => store.readIndex(a)));
  return new Map(arches.map((a, i) => [a, bytes[i]]));
}

/** The plan with each build's cost its recorded duration (the next run's critical-path costs), when it has one. */
async function withRecordedDurations(plan: RunPlan, state: StateStore<StateRecord>): Promise<RunPlan> {
  if (plan.builds.length === 0) return plan;
  // One listing, then a read per planned build that has a record (none on a first run).
  const recorded = new Set(await state.keys('build.'));
  const builds = plan.builds.slice();
  const todo: [number, string][] = [];
  builds.forEach((b, i) => {
    const k = buildKey(b.arch, b.name);
    if (recorded.has(k)) todo.push([i, k]);
  });
  for (let j = 0; j < todo.length; j += 128) {
    await Promise.all(
      todo.slice(j, j + 128).map(async ([i, k]) => {
        const v = (await state.get(k))?.value;
        if (v?.kind === 'build' && v.state === 'succeeded' && v.durationMs !== undefined)
          builds[i] = { ...builds[i]!, cost: v.durationMs };
      }),
    );
  }
  return { ...plan, builds };
}

/** The run to continue: an unfinished one of the same repository, else a new id. */
export async function runIdFor(
  state: StateStore<StateRecord>,
  root: string,
): Promise<{ runId: string; resumed: boolean }> {
  // This layout's record first, then one an earlier coordinator left running (both read at once).
  const records = await Promise.all([runKey, legacyRunKey].map((key) => state.get(key)));
  for (const e of records) {
    const r = e?.value;
    if (r?.kind === 'run' && r.status === 'running' && r.repo === root)
      return { runId: r.runId, resumed: true };
  }
  return {
    runId: `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`,
    resumed: false,
  };
}

export function keyringOf(key: SigningKey): Keyring {
  return new Keyring().add(key.publicName, publicPemOf(key));
}
