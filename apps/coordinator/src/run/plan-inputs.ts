import { randomBytes } from 'node:crypto';
import { Keyring, publicPemOf, type SigningKey } from '@melange2/apk';
import type { Arch } from '@melange2/depgraph';
import type { StateStore } from '@melange2/queue';
import type { RepositoryStore } from '../repository/index.js';
import { planRun, type RunPlan } from './plan-run.js';
import { runKey, type StateRecord } from './state.js';

/** What both run modes plan from, and how a run finds its id: shared by embedded and distributed. */

export interface PlanInputs {
  readonly repo: string;
  readonly arches: readonly Arch[];
  readonly changedSince?: string;
  readonly withDependents?: boolean;
  readonly cacheDir?: string | false;
  readonly workers?: number;
}

/** Plans against what the repository store has published, with the durations recorded before. */
export async function planAgainst(
  store: RepositoryStore,
  state: StateStore<StateRecord>,
  p: PlanInputs,
): Promise<RunPlan> {
  const published = new Map<string, Buffer | undefined>();
  for (const a of p.arches) published.set(a, await store.readIndex(a));
  // Recorded durations are in the builds' records (the next run's critical-path costs).
  const durations = new Map<string, number>();
  const keys = await state.keys('build.');
  for (let i = 0; i < keys.length; i += 128) {
    await Promise.all(
      keys.slice(i, i + 128).map(async (k) => {
        const v = (await state.get(k))?.value;
        const m = /^build\.([^.]+)\.(.+)$/.exec(k);
        if (v?.kind === 'build' && v.state === 'succeeded' && v.durationMs !== undefined && m)
          durations.set(`${m[2]}@${m[1]}`, v.durationMs);
      }),
    );
  }
  return planRun({
    repo: p.repo,
    arches: p.arches,
    published,
    durations,
    ...(p.changedSince !== undefined ? { changedSince: p.changedSince } : {}),
    ...(p.withDependents ? { withDependents: true } : {}),
    ...(p.cacheDir !== undefined ? { cacheDir: p.cacheDir } : {}),
    ...(p.workers !== undefined ? { workers: p.workers } : {}),
  });
}

/** The run to continue: an unfinished one of the same repository, else a new id. */
export async function runIdFor(
  state: StateStore<StateRecord>,
  root: string,
): Promise<{ runId: string; resumed: boolean }> {
  const r = (await state.get(runKey))?.value;
  if (r?.kind === 'run' && r.status === 'running' && r.repo === root)
    return { runId: r.runId, resumed: true };
  return {
    runId: `${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomBytes(3).toString('hex')}`,
    resumed: false,
  };
}

export function keyringOf(key: SigningKey): Keyring {
  return new Keyring().add(key.publicName, publicPemOf(key));
}
