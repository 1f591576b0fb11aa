import { randomBytes } from 'node:crypto';
import type { BuildOutcome, Staging } from '@melange2/protocol';
import { type Span, SpanStatusCode } from '@opentelemetry/api';
import type { IndexPublisher } from '../repository/index.js';
import { providesChanged } from './cutoff.js';
import type { RunBuild } from './plan-run.js';
import { tracer, under } from './spans.js';

export interface PublishStepOptions {
  readonly staging: Staging;
  readonly publisher: IndexPublisher;
  /** Compare the provides before and after (the early cutoff needs it; it costs an index read). */
  readonly compareProvides: boolean;
}

export type PublishStepResult =
  /** `indexed`: an index was written (false when the build made no package). */
  | { readonly ok: true; readonly indexed: boolean; readonly providesChanged?: boolean }
  | { readonly ok: false; readonly reason: string };

/**
 * Publishes what an agent staged for `b`: fetches the packages, adds them to the arch's index
 * (the single index writer), then removes them from staging. A publish that fails is the
 * build's failure (its staged packages stay for the run's final purge); a staged package that
 * cannot be fetched is the run's (it throws).
 */
export async function publishStaged(
  o: PublishStepOptions,
  b: RunBuild,
  outcome: Extract<BuildOutcome, { kind: 'succeeded' }>,
  buildSpan: Span | undefined,
): Promise<PublishStepResult> {
  const span = tracer.startSpan(
    `publish ${b.id}`,
    { attributes: { 'apk.packages': outcome.apks.length } },
    under(buildSpan),
  );
  const fetched = await Promise.all(outcome.apks.map((a) => o.staging.fetch(a.key)));
  let changed: boolean | undefined;
  try {
    if (fetched.length > 0) {
      const index = tracer.startSpan(`index ${b.arch}`, {}, under(span));
      try {
        const before = o.compareProvides ? (await o.publisher.current(b.arch)).index.entries : [];
        const res = await o.publisher.publish({ arch: b.arch, apks: fetched.map((x) => x.path) });
        index.setAttribute('apk.index.revision', res.revision);
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
    await Promise.all(fetched.map((x) => x.release()));
  }
  span.end();
  await o.staging.delete(outcome.apks.map((a) => a.key));
  const indexed = fetched.length > 0;
  return changed === undefined ? { ok: true, indexed } : { ok: true, indexed, providesChanged: changed };
}

/**
 * The published repository as jobs name it. A URL (served by `serveRepository`) gets
 * `/r/<epoch>-<generation>`, a new generation after each index write, so an index cached by URL
 * is never older than the dependencies a build was released for; a directory is named as is.
 */
export class PublishedRepository {
  #generation = 0;
  /** Distinguishes this coordinator's generations from those of the one it may have replaced. */
  readonly #epoch = randomBytes(4).toString('hex');

  constructor(readonly published: string) {}

  url(): string {
    return /^https?:/.test(this.published)
      ? `${this.published}/r/${this.#epoch}-${this.#generation}`
      : this.published;
  }

  /** An index was written: jobs from now on get the next generation. */
  indexed(): void {
    this.#generation++;
  }
}
