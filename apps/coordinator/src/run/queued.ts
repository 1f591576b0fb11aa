import type { BuildJob } from '@melange2/protocol';
import type { WorkQueue } from '@melange2/queue';
import { tokenHash } from './dispatch-tokens.js';

/** An attempt whose job is still on the work queue: what a restarted coordinator resumes. */
export interface QueuedAttempt {
  readonly attempt: number;
  readonly version: string;
  /** SHA-256 of the tokens its jobs carry (one per copy of the job on the queue). */
  readonly tokens: readonly string[];
}

/**
 * The builds of run `runId` whose job is still on the work queue (published and not yet acked
 * or terminated by an agent: waiting, leased to an agent that builds it, or given back), each
 * with its latest attempt. This is what a restart resumes from: an agent acks a job only after
 * its report was taken, so a job on the queue is an attempt the run has not settled.
 *
 * Jobs of other runs are left alone (an agent's report of one is refused; the agent then drops
 * it). A job the codec refuses is logged and left where it is. At most `max` jobs are read.
 */
export async function queuedAttempts(
  queue: WorkQueue<BuildJob>,
  runId: string,
  o: { readonly max: number; readonly log: (line: string) => void },
): Promise<Map<string, QueuedAttempt>> {
  const stored = await queue.stored({
    max: o.max,
    onRefused: (r) =>
      o.log(`work queue: job ${r.msgId || `#${r.seq}`} unreadable: ${(r.error as Error).message}`),
  });
  const out = new Map<string, QueuedAttempt>();
  for (const { data: job } of stored) {
    if (job.runId !== runId) continue;
    const prev = out.get(job.id);
    const hash = tokenHash(job.token);
    if (prev && prev.attempt > job.attempt) continue;
    const same = prev && prev.attempt === job.attempt && prev.version === job.version;
    out.set(job.id, {
      attempt: job.attempt,
      version: job.version,
      tokens: same ? [...prev.tokens, hash] : [hash],
    });
  }
  return out;
}
