import { randomBytes } from 'node:crypto';
import type { SigningKey } from '@melange2/apk';
import type { BuildOutcome, Staging } from '@melange2/protocol';
import { type Span, SpanStatusCode } from '@opentelemetry/api';
import type { IndexPublisher } from '../repository/index.js';
import { checkAndSign } from './check-staged.js';
import { providesChanged } from './cutoff.js';
import type { RunBuild } from './plan-run.js';
import { tracer, under } from './spans.js';

export interface PublishStepOptions {
  readonly staging: Staging;
  readonly publisher: IndexPublisher;
  /** The repository key: every package is signed with it here, whatever the agent signed it with. */
  readonly signingKey: SigningKey;
  /** Compare the provides before and after (the early cutoff needs it; it costs an index read). */
  readonly compareProvides: boolean;
}

export type PublishStepResult =
  /** `indexed`: an index was written (false when the build made no package). */
  | {
      readonly ok: true;
      readonly indexed: boolean;
      /** The index generation that holds the packages (when `indexed`). */
      readonly revision?: number;
      readonly providesChanged?: boolean;
    }
  | { readonly ok: false; readonly reason: string };

/**
 * Publishes what an agent staged for attempt `job.attempt` of `b`: fetches the packages, checks
 * each against the report and the job and signs it with the repository key (`checkAndSign`),
 * adds them to the arch's index (the single index writer), then removes them from staging. A
 * report whose packages do not check out throws a `ForgedReportError` (nothing is published or
 * removed); a publish that fails is the build's failure (its staged packages stay for the run's
 * final purge).
 */
export async function publishStaged(
  o: PublishStepOptions,
  b: RunBuild,
  job: { readonly runId: string; readonly attempt: number },
  outcome: Extract<BuildOutcome, { kind: 'succeeded' }>,
  buildSpan: Span | undefined,
): Promise<PublishStepResult> {
  const span = tracer.startSpan(
    `publish ${b.id}`,
    { attributes: { 'apk.packages': outcome.apks.length } },
    under(buildSpan),
  );
  let signed: Awaited<ReturnType<typeof checkAndSign>>;
  try {
    signed = await checkAndSign(o, b, job, outcome.apks);
  } catch (e) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
    span.end();
    throw e;
  }
  let changed: boolean | undefined;
  let revision: number | undefined;
  try {
    if (signed.paths.length > 0) {
      const index = tracer.startSpan(`index ${b.arch}`, {}, under(span));
      try {
        const before = o.compareProvides ? (await o.publisher.current(b.arch)).index.entries : [];
        const res = await o.publisher.publish({ arch: b.arch, apks: signed.paths });
        index.setAttribute('apk.index.revision', res.revision);
        revision = res.revision;
        if (o.compareProvides) changed = providesChanged(before, res.entries);
      } finally {
        index.end();
      }
    }
  } catch (e) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
    span.end();
    return { ok: false, reason: `publish failed: ${(e as Error).message}` };
  } finally {
    await signed.release();
  }
  span.end();
  if (outcome.apks.length > 0) await o.staging.delete(outcome.apks.map((a) => a.key));
  const indexed = signed.paths.length > 0;
  return {
    ok: true,
    indexed,
    ...(revision !== undefined ? { revision } : {}),
    ...(changed !== undefined ? { providesChanged: changed } : {}),
  };
}

/**
 * The published repository's index generation, as jobs carry it. Agents install from a served
 * repository at `<url>/r/<epoch>-<generation>`, a new generation after each index write, so an
 * index cached by URL is never older than the dependencies a build was released for; a
 * directory (embedded) has none.
 */
export class PublishedRepository {
  #generation = 0;
  /** Distinguishes this coordinator's generations from those of the one it may have replaced. */
  readonly #epoch = randomBytes(4).toString('hex');

  constructor(readonly published: string) {}

  generation(): string | undefined {
    return /^https?:/.test(this.published) ? `${this.#epoch}-${this.#generation}` : undefined;
  }

  /** An index was written: jobs from now on get the next generation. */
  indexed(): void {
    this.#generation++;
  }
}
