import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Decode, MemoryStateStore, type StateSnapshot } from '@melange2/queue';
import { z } from 'zod';

/** What a run keeps in its state store (JetStream KV, or a file in embedded mode). */
export type StateRecord =
  | {
      readonly kind: 'run';
      readonly runId: string;
      readonly repo: string;
      readonly arches: readonly string[];
      readonly status: 'running' | 'finished';
      readonly startedAt: number;
      readonly finishedAt?: number;
    }
  | {
      readonly kind: 'build';
      readonly runId: string;
      readonly state: 'dispatched' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'refused';
      readonly attempt: number;
      readonly version: string;
      readonly reason?: string;
      readonly agent?: string;
      /** Recorded duration: the critical path's cost of this build next time. */
      readonly durationMs?: number;
      readonly logTail?: readonly string[];
      /** SHA-256 of the dispatch tokens the attempt in flight accepts (never the tokens). */
      readonly tokens?: readonly string[];
    }
  /**
   * Reports refused for a build (or `refused.unknown`: for no build of the run): forged, replayed
   * or not matching what was staged. Never a failure of the package.
   */
  | {
      readonly kind: 'refused';
      readonly runId: string;
      readonly count: number;
      readonly attempt: number;
      readonly agent: string;
      readonly code: string;
      readonly reason: string;
      readonly at: number;
    }
  /** A failure remembered by input: the same config is not rebuilt to fail again (`--retry-failed`). */
  | { readonly kind: 'failure'; readonly input: string; readonly version: string; readonly reason: string };

const stateRecordSchema: z.ZodType<StateRecord> = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('run'),
    runId: z.string(),
    repo: z.string(),
    arches: z.array(z.string()),
    status: z.enum(['running', 'finished']),
    startedAt: z.number(),
    finishedAt: z.number().optional(),
  }),
  z.object({
    kind: z.literal('build'),
    runId: z.string(),
    state: z.enum(['dispatched', 'running', 'succeeded', 'failed', 'skipped', 'refused']),
    attempt: z.number().int().nonnegative(),
    version: z.string(),
    reason: z.string().optional(),
    agent: z.string().optional(),
    durationMs: z.number().nonnegative().optional(),
    logTail: z.array(z.string()).optional(),
    tokens: z.array(z.string()).max(16).optional(),
  }),
  z.object({
    kind: z.literal('refused'),
    runId: z.string(),
    count: z.number().int().nonnegative(),
    attempt: z.number().int().nonnegative(),
    agent: z.string(),
    code: z.string(),
    reason: z.string(),
    at: z.number(),
  }),
  z.object({ kind: z.literal('failure'), input: z.string(), version: z.string(), reason: z.string() }),
]);

/** Checks a run state record read back from the store (a `StateRecordError` names the key). */
export const decodeStateRecord: Decode<StateRecord> = (v) => {
  const r = stateRecordSchema.safeParse(v);
  if (!r.success) throw new Error(z.prettifyError(r.error), { cause: r.error });
  return r.data;
};

/**
 * The run record. `run.v2`: runs whose attempts in flight are the jobs on the work queue (no
 * `dispatched` records). A coordinator of the earlier layout reads only `run`, so it never
 * resumes such a run (it would find no record of what is in flight and wait for reports it can
 * never accept): it starts a new run instead, which is correct, only slower. This layout still
 * resumes a run recorded under `run` (see `runIdFor`).
 */
export const runKey = 'run.v2';
export const legacyRunKey = 'run';
export const buildKey = (arch: string, name: string) => `build.${arch}.${name}`;
export const failureKey = (arch: string, name: string) => `failure.${arch}.${name}`;
/** Refused reports of a build of the run, or (no build) of any other id. */
export const refusedKey = (b: { arch: string; name: string } | undefined) =>
  b ? `refused.${b.arch}.${b.name}` : 'refused.unknown';

/**
 * A StateStore in one JSON file, written atomically (temp + rename) after changes: the embedded
 * mode's equivalent of the KV bucket, so an interrupted `build-all` resumes too.
 */
export class FileStateStore<T> extends MemoryStateStore<T> {
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly file: string,
    decode: Decode<T>,
  ) {
    super(file);
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    try {
      this.restore(snapshotOf(JSON.parse(text), decode));
    } catch (e) {
      throw new Error(`${file}: not a state file (${(e as Error).message}); remove it to start afresh`);
    }
  }

  /**
   * Writes are coalesced (at most one file write per 100 ms): rewriting the whole file per change
   * would be quadratic on a big repository. What a crash loses is at most the last 100 ms, and an
   * embedded run loses its in-flight builds anyway.
   */
  protected override onChange(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => this.flush(), 100);
  }

  /** Writes pending changes now (at the end of a run). */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(this.snapshot()));
    renameSync(tmp, this.file);
  }
}

/** A snapshot read back from a file, every value checked. */
function snapshotOf<T>(v: unknown, decode: Decode<T>): StateSnapshot<T> {
  const s = v as { revision?: unknown; entries?: unknown };
  if (typeof s?.revision !== 'number' || !Array.isArray(s.entries))
    throw new Error('no revision and entries');
  return {
    revision: s.revision,
    entries: s.entries.map((e: unknown) => {
      if (!Array.isArray(e) || typeof e[0] !== 'string') throw new Error('an entry is not [key, record]');
      const { value, revision } = (e[1] ?? {}) as { value?: unknown; revision?: unknown };
      if (typeof revision !== 'number') throw new Error(`${e[0]}: no revision`);
      try {
        return [e[0], { value: decode(value), revision }] as const;
      } catch (x) {
        throw new Error(`${e[0]}: ${(x as Error).message}`, { cause: x });
      }
    }),
  };
}
