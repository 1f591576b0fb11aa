import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { constants, gunzip, gzip } from 'node:zlib';
import { type ObjectStore, Objm } from '@nats-io/obj';
import { readObject } from '@melange2/protocol';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeSummary, decodeTimeline, TimelineError } from './timeline-schema.js';
import { type RunSummary, type RunTimeline, summaryOf } from './timeline-types.js';

/**
 * Where run timelines are kept after the run: `report` and `trace` read them later. Each run is
 * two entries, its summary (the runs list reads only these) and its timeline.
 */
export interface RunStore {
  readonly description: string;
  /** Newest first. */
  list(): Promise<RunSummary[]>;
  get(runId: string): Promise<RunTimeline | undefined>;
  /** Stores `t`; `json` is its JSON when the caller has it already (the recorder's cached builds). */
  put(t: RunTimeline, json?: string): Promise<void>;
}

/** A timeline bigger than this is refused when read (6,800 builds take about 3 MB). */
const MAX_TIMELINE_BYTES = 128 * 1024 * 1024;
/** Runs kept: the oldest beyond these are removed when a new run is stored. */
const KEEP_RUNS = 50;

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** A gzip stream's first two bytes: how a compressed timeline is told from an older plain one. */
const isGzip = (b: Uint8Array) => b.length > 2 && b[0] === 0x1f && b[1] === 0x8b;

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkRunId(runId: string): string {
  if (!RUN_ID.test(runId)) throw new TimelineError('run-not-found', runId, 'not a run id');
  return runId;
}

const newestFirst = (a: RunSummary, b: RunSummary) =>
  b.startedAt - a.startedAt || b.runId.localeCompare(a.runId);

/** The embedded mode's store: `<out-dir>/.melange2-runs/<run>.json` and `<run>.summary.json`. */
export class FileRunStore implements RunStore {
  readonly description: string;
  readonly #known = new Set<string>();
  constructor(readonly dir: string) {
    this.description = dir;
  }

  async list(): Promise<RunSummary[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: RunSummary[] = [];
    for (const n of names) {
      if (!n.endsWith('.summary.json')) continue;
      const f = join(this.dir, n);
      try {
        out.push(decodeSummary(await readFile(f, 'utf8'), f));
      } catch {
        // A summary being replaced, or foreign: not listed.
      }
    }
    return out.sort(newestFirst);
  }

  async get(runId: string): Promise<RunTimeline | undefined> {
    const f = join(this.dir, `${checkRunId(runId)}.json`);
    const st = await stat(f).catch(() => undefined);
    if (!st) return undefined;
    if (st.size > MAX_TIMELINE_BYTES)
      throw new TimelineError('timeline-invalid', f, `${st.size} bytes is over the limit`);
    return decodeTimeline(await readFile(f, 'utf8'), f);
  }

  async put(t: RunTimeline, json?: string): Promise<void> {
    const id = checkRunId(t.runId);
    await mkdir(this.dir, { recursive: true });
    await this.#write(`${id}.json`, json ?? JSON.stringify(t));
    await this.#write(`${id}.summary.json`, JSON.stringify(summaryOf(t)));
    if (!this.#known.has(id)) {
      this.#known.add(id);
      for (const old of (await this.list()).slice(KEEP_RUNS)) {
        await rm(join(this.dir, `${old.runId}.json`), { force: true });
        await rm(join(this.dir, `${old.runId}.summary.json`), { force: true });
      }
    }
  }

  async #write(name: string, text: string): Promise<void> {
    const dest = join(this.dir, name);
    const tmp = `${dest}.tmp-${process.pid}`;
    await writeFile(tmp, text);
    await rename(tmp, dest);
  }
}

/**
 * The distributed mode's store: a JetStream Object Store bucket (`<ns>_runs`). Timelines are
 * stored gzipped (a tenth of the bytes to hash and send: the object store's SHA-256 is plain
 * JavaScript); plain ones written before are still read.
 */
export class ObjectRunStore implements RunStore {
  readonly description: string;
  readonly #known = new Set<string>();
  private constructor(
    bucket: string,
    readonly os: ObjectStore,
  ) {
    this.description = `nats object store ${bucket}`;
  }

  static async open(nc: NatsConnection, bucket: string): Promise<ObjectRunStore> {
    return new ObjectRunStore(bucket, await new Objm(nc).create(bucket));
  }

  async list(): Promise<RunSummary[]> {
    const out: RunSummary[] = [];
    for (const i of await this.os.list()) {
      if (i.deleted || !i.name.endsWith('.summary.json')) continue;
      const text = await readObject(this.os, i.name).catch(() => null);
      if (!text) continue;
      try {
        out.push(decodeSummary(new TextDecoder().decode(text), i.name));
      } catch {
        // Foreign: not listed.
      }
    }
    return out.sort(newestFirst);
  }

  async get(runId: string): Promise<RunTimeline | undefined> {
    const name = `${checkRunId(runId)}.json`;
    const info = await this.os.info(name);
    if (!info || info.deleted) return undefined;
    if (info.size > MAX_TIMELINE_BYTES)
      throw new TimelineError('timeline-invalid', name, `${info.size} bytes is over the limit`);
    const bytes = await readObject(this.os, name);
    if (!bytes) return undefined;
    const where = `${this.description}: ${name}`;
    const text = isGzip(bytes)
      ? await gunzipAsync(bytes, { maxOutputLength: MAX_TIMELINE_BYTES }).catch((e: unknown) => {
          throw new TimelineError('timeline-invalid', where, (e as Error).message, { cause: e });
        })
      : bytes;
    return decodeTimeline(new TextDecoder().decode(text), where);
  }

  async put(t: RunTimeline, json?: string): Promise<void> {
    const id = checkRunId(t.runId);
    const enc = new TextEncoder();
    const gz = await gzipAsync(json ?? JSON.stringify(t), { level: constants.Z_BEST_SPEED });
    await this.os.putBlob({ name: `${id}.json` }, gz);
    await this.os.putBlob({ name: `${id}.summary.json` }, enc.encode(JSON.stringify(summaryOf(t))));
    if (!this.#known.has(id)) {
      this.#known.add(id);
      for (const old of (await this.list()).slice(KEEP_RUNS)) {
        await this.os.delete(`${old.runId}.json`).catch(() => undefined);
        await this.os.delete(`${old.runId}.summary.json`).catch(() => undefined);
      }
    }
  }
}

/** A run by id, or the latest one without an id (a TimelineError when there is none). */
export async function findRun(store: RunStore, runId: string | undefined): Promise<RunTimeline> {
  const id = runId ?? (await store.list())[0]?.runId;
  if (id === undefined) throw new TimelineError('run-not-found', store.description, 'no run recorded yet');
  const t = await store.get(id);
  if (!t) throw new TimelineError('run-not-found', store.description, `no run ${id}`);
  return t;
}
