import { z } from 'zod';

/** How a build's log ended: still running, or the build's result. */
export type LogState = 'running' | 'succeeded' | 'failed' | 'cancelled';

/** Which build a log belongs to. */
export interface LogKey {
  readonly runId: string;
  readonly arch: string;
  readonly name: string;
}

/** A build of a run (its log's key without the run). */
export type BuildOfRun = Omit<LogKey, 'runId'>;

/** A build's log as the store records it: the compressed blob's address once it is finished. */
export interface LogRef extends LogKey {
  readonly attempt: number;
  readonly agent: string;
  readonly state: LogState;
  /** ms since epoch. */
  readonly startedAt: number;
  readonly finishedAt?: number;
  /** sha256 (hex) of the gzip bytes: the blob's name. */
  readonly digest?: string;
  /** Compressed bytes. */
  readonly size?: number;
  /** Text bytes (what a reader gets). */
  readonly bytes?: number;
  /** The build wrote more than the cap: the marker line says where the kept text ends. */
  readonly truncated?: boolean;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._+@-]{0,199}$/;

const logRefSchema = z.strictObject({
  runId: z.string().regex(NAME),
  arch: z.string().regex(NAME),
  name: z.string().regex(NAME),
  attempt: z.number().int().nonnegative(),
  agent: z.string().max(200),
  state: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
  startedAt: z.number(),
  finishedAt: z.number().optional(),
  digest: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
  size: z.number().int().nonnegative().optional(),
  bytes: z.number().int().nonnegative().optional(),
  truncated: z.boolean().optional(),
});

export type LogErrorCode = 'log-not-found' | 'log-bad-name' | 'log-corrupt' | 'log-store';

/** A log could not be found, named, read or stored. */
export class LogError extends Error {
  override readonly name = 'LogError';
  constructor(
    readonly code: LogErrorCode,
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`log ${key}: ${message}`, options);
  }
}

/** `run/arch/name`, after checking each part can name a file or an object. */
export function logPath(k: LogKey): string {
  for (const part of [k.runId, k.arch, k.name])
    if (!NAME.test(part))
      throw new LogError('log-bad-name', `${k.runId}/${k.arch}/${k.name}`, `"${part}": not a valid name`);
  return `${k.runId}/${k.arch}/${k.name}`;
}

/** A stored reference, checked (a corrupt one is an error naming it). */
export function decodeLogRef(key: string, bytes: Uint8Array | string): LogRef {
  try {
    const text = typeof bytes === 'string' ? bytes : new TextDecoder().decode(bytes);
    return logRefSchema.parse(JSON.parse(text)) as LogRef;
  } catch (e) {
    throw new LogError('log-corrupt', key, `unreadable reference: ${(e as Error).message}`, { cause: e });
  }
}

/** Where a running build's text goes as it is written (a file, a NATS subject). */
export interface LiveSink {
  write(chunk: string): void;
  close(): Promise<void>;
}

/** A run that has logs, and when its newest log was written (ms since epoch). */
export interface LogRun {
  readonly runId: string;
  readonly at: number;
}

/** Which runs' logs to keep: the newest `runs`, and (when set) none older than `maxAgeMs`. */
export interface LogRetention {
  readonly runs: number;
  readonly maxAgeMs?: number;
}

/**
 * Where build logs live: finished ones as gzip blobs named by their sha256 with a reference per
 * build, running ones as live text a reader can follow.
 */
export interface BuildLogStore {
  /** Records the build as running; its text goes to the returned sink as it is written. */
  begin(ref: LogRef): Promise<LiveSink>;
  /** Stores a finished log (a gzip file, moved or uploaded) and its reference. */
  finish(ref: LogRef & { digest: string }, gzFile: string): Promise<void>;
  ref(k: LogKey): Promise<LogRef | undefined>;
  /**
   * Marks the run's logs still running as cancelled (their agent was lost: nothing will finish
   * them); their text so far stays readable from the live store while it keeps it. Their keys.
   * `only`: the builds whose logs may still be running (the caller knows the others finished):
   * only their references are read, not the whole run's.
   */
  abandon(runId: string, only?: readonly BuildOfRun[]): Promise<string[]>;
  /** The gzip bytes of a finished log (blobs are named by digest within their run). */
  blob(ref: LogRef & { digest: string }): Promise<NodeJS.ReadableStream | undefined>;
  /**
   * The live text of a running build from its start, as it comes; ends once `done()` says so
   * and nothing more is there (a reader checks the reference in `done`).
   */
  live(k: LogKey, o: { signal?: AbortSignal; done: () => Promise<boolean> }): AsyncIterable<Uint8Array>;
  /** Runs with logs, newest first. */
  runs(): Promise<LogRun[]>;
  /** The run whose log was written last (cheaper than `runs()` where the store can tell). */
  latest(): Promise<string | undefined>;
  /** References of a run. */
  list(runId: string): Promise<LogRef[]>;
  /** Removes the runs the retention does not keep (and blobs only they used): their ids. */
  prune(keep: LogRetention): Promise<string[]>;
}

/** The references `abandon` looks at: those of `only` when given (one read each), or all the run's. */
export async function refsOf(
  store: Pick<BuildLogStore, 'ref' | 'list'>,
  runId: string,
  only: readonly BuildOfRun[] | undefined,
): Promise<LogRef[]> {
  if (!only) return store.list(runId);
  const out: LogRef[] = [];
  for (const b of only) {
    const r = await store.ref({ runId, arch: b.arch, name: b.name });
    if (r) out.push(r);
  }
  return out;
}

/** The runs a retention drops, given runs newest first. */
export function runsToDrop(runs: readonly LogRun[], keep: LogRetention, now = Date.now()): string[] {
  return runs
    .filter((r, i) => i >= keep.runs || (keep.maxAgeMs !== undefined && now - r.at > keep.maxAgeMs))
    .map((r) => r.runId);
}
