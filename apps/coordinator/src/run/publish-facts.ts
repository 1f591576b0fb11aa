import type { BuildOutcome } from '@melange2/protocol';
import { ForgedReportError } from '@melange2/protocol';
import type { PublishRecord } from '../observe/timeline-types.js';
import type { RunBuild } from './plan-run.js';
import type { PublishStepResult } from './publish-step.js';
import type { RunEvent } from './run-types.js';

/** A refusal's or failure's text kept in the record (the timeline's bound). */
const MAX_MESSAGE = 4096;

type Succeeded = Extract<BuildOutcome, { kind: 'succeeded' }>;

/**
 * Runs a report's publish step and tells what it did as a `published` event (the build's log
 * shows it): when it ran, the packages checked, the key they were signed with and the index
 * generation that holds them; or the refusal's code or the failure. The step's result or error
 * passes through unchanged. Costs two clock reads and one small object per report.
 */
export async function observePublish(
  emit: (e: RunEvent) => void,
  b: RunBuild,
  report: { readonly attempt: number; readonly outcome: Succeeded },
  signedBy: string,
  step: () => Promise<PublishStepResult>,
): Promise<PublishStepResult> {
  const common = {
    attempt: report.attempt,
    startedAt: Date.now(),
    packages: report.outcome.apks.map((a) => ({ filename: a.filename, sha256: a.sha256, size: a.size })),
  };
  const tell = (publish: PublishRecord) => emit({ type: 'published', build: b, publish });
  let r: PublishStepResult;
  try {
    r = await step();
  } catch (e) {
    if (e instanceof ForgedReportError)
      tell({
        ...common,
        finishedAt: Date.now(),
        result: 'refused',
        code: e.refused,
        message: e.message.slice(0, MAX_MESSAGE),
      });
    throw e;
  }
  tell(
    r.ok
      ? {
          ...common,
          finishedAt: Date.now(),
          result: 'published',
          signedBy,
          ...(r.revision !== undefined ? { generation: r.revision } : {}),
        }
      : {
          ...common,
          finishedAt: Date.now(),
          result: 'failed',
          code: 'publish-failed',
          message: r.reason.slice(0, MAX_MESSAGE),
        },
  );
  return r;
}
