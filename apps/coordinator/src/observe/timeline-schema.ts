import { z } from 'zod';
import {
  BUILD_PHASES,
  BUILD_STAGES,
  type RunSummary,
  type RunTimeline,
  TIMELINE_VERSION,
} from './timeline-types.js';

/** Checks of timelines and summaries read back from disk or JetStream. */

const phase = z.enum(BUILD_PHASES as [string, ...string[]]);
const ms = z.number().finite();
const name = z.string().min(1).max(1024);

const publishCommon = {
  attempt: z.number().int().nonnegative(),
  startedAt: ms,
  finishedAt: ms,
  packages: z
    .array(
      z.object({
        filename: name,
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        size: z.number().int().nonnegative(),
      }),
    )
    .max(1024),
};

/** Absent in timelines written before the publish step was recorded: they still read. */
const publish = z.discriminatedUnion('result', [
  z.object({
    ...publishCommon,
    result: z.literal('published'),
    signedBy: name,
    generation: z.number().int().nonnegative().optional(),
  }),
  z.object({
    ...publishCommon,
    result: z.enum(['refused', 'failed']),
    code: z.string().min(1).max(64),
    message: z.string().max(4096),
  }),
]);

const build = z.object({
  id: name,
  name,
  arch: name,
  version: z.string().max(1024),
  deps: z.array(name),
  state: phase,
  readyAt: ms.optional(),
  dispatchedAt: ms.optional(),
  startedAt: ms.optional(),
  finishedAt: ms.optional(),
  agent: name.optional(),
  slot: z.number().int().nonnegative().optional(),
  attempts: z.number().int().nonnegative(),
  steps: z
    .object({ total: z.number().int().nonnegative(), cached: z.number().int().nonnegative() })
    .optional(),
  reason: z
    .string()
    .max(64 * 1024)
    .optional(),
  logTail: z.array(z.string().max(4096)).max(100).optional(),
  stages: z
    .array(z.object({ stage: z.enum(BUILD_STAGES), at: ms }))
    .max(16)
    .optional(),
  publish: publish.optional(),
});

const timelineSchema = z.object({
  version: z.literal(TIMELINE_VERSION),
  runId: name,
  repo: z.string(),
  arches: z.array(name),
  status: z.enum(['running', 'finished']),
  startedAt: ms,
  finishedAt: ms.optional(),
  builds: z.array(build),
  upToDate: z.array(z.object({ id: name, version: z.string() })),
  agents: z.array(
    z.object({
      id: name,
      arch: name,
      slots: z.number().int().nonnegative(),
      lastHeartbeat: ms,
      alive: z.boolean(),
    }),
  ),
});

const summarySchema = z.object({
  runId: name,
  repo: z.string(),
  status: z.enum(['running', 'finished']),
  startedAt: ms,
  finishedAt: ms.optional(),
  builds: z.number().int().nonnegative(),
  counts: z.record(phase, z.number().int().nonnegative()),
});

/** A timeline file or object that is not one. */
export class TimelineError extends Error {
  override readonly name = 'TimelineError';
  constructor(
    readonly code: 'timeline-invalid' | 'run-not-found',
    readonly where: string,
    message: string,
    options?: { cause: unknown },
  ) {
    super(
      code === 'run-not-found' ? `${where}: ${message}` : `${where}: not a run timeline (${message})`,
      options,
    );
  }
}

function decode<T>(schema: z.ZodType, text: string, where: string): T {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new TimelineError('timeline-invalid', where, (e as Error).message, { cause: e });
  }
  const r = schema.safeParse(v);
  if (!r.success)
    throw new TimelineError('timeline-invalid', where, z.prettifyError(r.error), { cause: r.error });
  return r.data as T;
}

export const decodeTimeline = (text: string, where: string): RunTimeline =>
  decode<RunTimeline>(timelineSchema, text, where);
export const decodeSummary = (text: string, where: string): RunSummary =>
  decode<RunSummary>(summarySchema, text, where);
