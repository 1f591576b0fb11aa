import type { RunStore } from './run-store.js';
import type { RunTimeline } from './timeline-types.js';

const REASON = 'cancelled: its coordinator stopped while it ran';

/**
 * Builds running, or dispatched to an agent and not started, when their run stopped for good:
 * marked `cancelled` at `at` (nothing will finish them now). Their ids.
 */
export function cancelUnfinished(t: RunTimeline, at: number): string[] {
  const out: string[] = [];
  for (const b of t.builds) {
    if (b.state !== 'running' && !(b.state === 'queued' && b.dispatchedAt !== undefined)) continue;
    b.state = 'cancelled';
    b.finishedAt = Math.max(at, b.startedAt ?? b.dispatchedAt ?? at);
    b.reason = REASON;
    out.push(b.id);
  }
  return out;
}

/** The last moment a timeline knows of (its coordinator was alive then). */
function lastKnown(t: RunTimeline): number {
  let at = t.startedAt;
  for (const b of t.builds)
    at = Math.max(at, b.readyAt ?? 0, b.dispatchedAt ?? 0, b.startedAt ?? 0, b.finishedAt ?? 0);
  for (const a of t.agents) at = Math.max(at, a.lastHeartbeat);
  return at;
}

/**
 * Runs left `running` in the store by coordinators that crashed (another run has begun since):
 * their unfinished builds are marked cancelled and the runs finished at the last moment they
 * knew of. The run ids, each with its cancelled builds.
 */
export async function closeCrashedRuns(
  store: RunStore,
  current: string,
): Promise<{ runId: string; cancelled: string[] }[]> {
  const out: { runId: string; cancelled: string[] }[] = [];
  for (const s of await store.list()) {
    if (s.status !== 'running' || s.runId === current) continue;
    const t = await store.get(s.runId);
    if (t?.status !== 'running') continue;
    const at = lastKnown(t);
    const cancelled = cancelUnfinished(t, at);
    t.status = 'finished';
    t.finishedAt = at;
    await store.put(t);
    out.push({ runId: t.runId, cancelled });
  }
  return out;
}
