import { setTimeout as delay } from 'node:timers/promises';
import type { LogKey } from '@melange2/protocol';
import type { PublishRecord, RunTimeline, TimelineBuild } from '../observe/timeline-types.js';

/** Where a run's timeline is read from: the live recorder's, or the stored one. */
export type TimelineSource = (runId: string) => Promise<RunTimeline | undefined>;

/** A build's log reference as far as its publish section needs it. */
export type SectionKey = LogKey & { readonly attempt: number };

/** How long a stored finished timeline is reused for the publish sections of other requests. */
const REUSE_MS = 10_000;
/** Reads of a run's timeline that found none before `await` takes it that there is none. */
const MISSES = 3;

const buildOf = (t: RunTimeline | undefined, k: LogKey): TimelineBuild | undefined =>
  t?.builds.find((b) => b.name === k.name && b.arch === k.arch);

const stamp = (ms: number) => new Date(ms).toISOString();

/** The lines of a record, each stamped (a message's own lines kept as separate lines). */
function lines(p: PublishRecord, arch: string): string[] {
  const out: [number, string][] = [[p.startedAt, `== coordinator: publish (attempt ${p.attempt})`]];
  const checked = p.result === 'published';
  for (const a of p.packages)
    out.push([
      p.startedAt,
      `${checked ? 'checked' : 'reported'} ${a.filename}: sha256 ${a.sha256}, ${a.size} bytes` +
        (checked ? ' (staged bytes match the report)' : ''),
    ]);
  const took = `${((p.finishedAt - p.startedAt) / 1000).toFixed(2)}s`;
  if (p.result === 'published') {
    if (p.packages.length > 0) out.push([p.finishedAt, `signed with ${p.signedBy}`]);
    out.push([
      p.finishedAt,
      p.generation !== undefined
        ? `published: ${arch} index generation ${p.generation} (${took})`
        : `published: no package to index (${took})`,
    ]);
  } else {
    const what = p.result === 'refused' ? 'REFUSED' : 'FAILED';
    out.push([p.finishedAt, `publish ${what} (${p.code}) after ${took}: ${p.message}`]);
  }
  return out.flatMap(([at, text]) => text.split('\n').map((l) => `${stamp(at)} ${l}\n`));
}

/**
 * The section a build's log ends with: what the coordinator's publish step did with the
 * report of this log's attempt (empty when it has not run for that attempt, or the timeline
 * predates publish records).
 */
export function publishSection(b: TimelineBuild | undefined, attempt: number): string {
  const p = b?.publish;
  if (!b || !p || p.attempt !== attempt) return '';
  return lines(p, b.arch).join('');
}

/**
 * Publish sections of builds' logs, from their run's timeline (computed when a log is read:
 * nothing more is stored per build). A timeline that cannot be read gives no section.
 */
export class PublishSections {
  #kept: { readonly t: RunTimeline; readonly at: number } | undefined;

  constructor(readonly timelines: TimelineSource) {}

  async of(k: SectionKey): Promise<string> {
    const t = await this.timeline(k.runId);
    return publishSection(buildOf(t, k), k.attempt);
  }

  /**
   * The section once it is there (`logs --follow`: the agent's log ends before the coordinator
   * publishes, and a stored timeline is written every few seconds). Empty when the build or the
   * run ends without one for this attempt, when `signal` aborts, or after `maxWaitMs`.
   */
  async await(
    k: SectionKey,
    o: { signal?: AbortSignal; pollMs?: number; maxWaitMs?: number } = {},
  ): Promise<string> {
    const until = Date.now() + (o.maxWaitMs ?? 120_000);
    for (let misses = 0; ; ) {
      const t = await this.timeline(k.runId);
      const b = buildOf(t, k);
      const s = publishSection(b, k.attempt);
      if (s) return s;
      // A stored timeline being replaced reads as missing for a moment: missing thrice, it is.
      misses = t ? 0 : misses + 1;
      const settled =
        misses >= MISSES ||
        (t !== undefined &&
          (t.status === 'finished' || !b || (b.state !== 'queued' && b.state !== 'running')));
      if (settled || o.signal?.aborted || Date.now() >= until) return '';
      await delay(o.pollMs ?? 1000, undefined, o.signal ? { signal: o.signal } : {}).catch(() => {});
    }
  }

  async timeline(runId: string): Promise<RunTimeline | undefined> {
    const now = Date.now();
    const kept = this.#kept;
    if (kept?.t.runId === runId && now - kept.at < REUSE_MS) return kept.t;
    const t = await this.timelines(runId).catch(() => undefined);
    // A finished run's stored timeline is reused a while (a big one takes a while to decode).
    this.#kept = t?.status === 'finished' ? { t, at: now } : undefined;
    return t;
  }
}
