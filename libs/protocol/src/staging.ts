import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { type ObjectStore, Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { ensureMaxAge } from '@melange2/queue';
import type { BuildJob } from './messages.js';
import { STAGING_MAX_AGE_MS } from './names.js';

/**
 * Where agents leave built packages for the coordinator, the single index writer: a run's
 * staging area, never the repository itself, so an agent killed mid-upload publishes nothing.
 */
export interface Staging {
  put(key: string, file: string): Promise<void>;
  /** A local path holding the staged file; `release` removes any temporary copy. */
  fetch(key: string): Promise<{ path: string; release(): Promise<void> }>;
  delete(keys: readonly string[]): Promise<void>;
  /** Removes everything under a prefix (a finished run's leftovers from agents that died). */
  purge(prefix: string): Promise<void>;
}

/** The staging key of one package of one attempt. */
export function stagingKey(
  job: Pick<BuildJob, 'runId' | 'id' | 'attempt' | 'arch'>,
  filename: string,
): string {
  return `${job.runId}/${job.id.replace(/[^A-Za-z0-9._+-]/g, '_')}/${job.attempt}/${job.arch}/${filename}`;
}

/** Hex SHA-256 and size of a file, streamed: what a report says of each staged package. */
export async function fileDigest(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

/** A staged file could not be written, read or found (a retry elsewhere may succeed). */
export class StagingError extends Error {
  override readonly name = 'StagingError';
  readonly code = 'staging-failed';
  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`staging ${key}: ${message}`, options);
  }
}

/** Staging in a local directory (embedded mode: agents and coordinator share the machine). */
export class LocalStaging implements Staging {
  constructor(readonly root: string) {}

  #path(key: string): string {
    const p = resolve(this.root, key);
    if (!p.startsWith(resolve(this.root) + sep)) throw new StagingError(key, 'escapes the staging directory');
    return p;
  }

  async put(key: string, file: string): Promise<void> {
    const dest = this.#path(key);
    await mkdir(dirname(dest), { recursive: true });
    const tmp = `${dest}.tmp-${process.pid}`;
    await copyFile(file, tmp);
    await rename(tmp, dest);
  }

  async fetch(key: string): Promise<{ path: string; release(): Promise<void> }> {
    return { path: this.#path(key), release: async () => {} };
  }

  async delete(keys: readonly string[]): Promise<void> {
    await Promise.all(keys.map((k) => rm(this.#path(k), { force: true })));
  }

  async purge(prefix: string): Promise<void> {
    await rm(this.#path(prefix.replace(/\/+$/, '')), { recursive: true, force: true });
  }
}

/** Staging in a JetStream Object Store bucket (distributed mode). */
export class ObjectStaging implements Staging {
  readonly #store: () => Promise<ObjectStore>;
  private constructor(store: () => Promise<ObjectStore>) {
    this.#store = store;
  }

  /** Creates the bucket when missing, and keeps staged files for `STAGING_MAX_AGE_MS` (the coordinator). */
  static async open(nc: NatsConnection, bucket: string): Promise<ObjectStaging> {
    const os = await new Objm(nc).create(bucket, { ttl: STAGING_MAX_AGE_MS });
    await ensureMaxAge(nc, `OBJ_${bucket}`, STAGING_MAX_AGE_MS);
    return new ObjectStaging(async () => os);
  }

  /**
   * The agents' side: opens the bucket the coordinator made at first use (an agent may start
   * before it and may not create buckets), and again after a failed open.
   */
  static attach(nc: NatsConnection, bucket: string): ObjectStaging {
    let os: Promise<ObjectStore> | undefined;
    return new ObjectStaging(() => {
      os ??= new Objm(nc).open(bucket);
      os.catch(() => {
        os = undefined;
      });
      return os;
    });
  }

  async put(key: string, file: string): Promise<void> {
    const web = Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array>;
    try {
      await (await this.#store()).put({ name: key }, web);
    } catch (e) {
      throw new StagingError(key, (e as Error).message, { cause: e });
    }
  }

  async fetch(key: string): Promise<{ path: string; release(): Promise<void> }> {
    const r = await (await this.#store()).get(key);
    if (!r) throw new StagingError(key, 'not in the staging bucket');
    const dir = await mkdtemp(join(tmpdir(), 'm2-staged-'));
    const path = join(dir, key.slice(key.lastIndexOf('/') + 1));
    await pipeline(
      Readable.fromWeb(r.data as unknown as WebReadableStream<Uint8Array>),
      createWriteStream(path),
    );
    if (!(await r.error)) return { path, release: () => rm(dir, { recursive: true, force: true }) };
    await rm(dir, { recursive: true, force: true });
    throw new StagingError(key, 'download failed');
  }

  async delete(keys: readonly string[]): Promise<void> {
    const os = await this.#store();
    await Promise.all(keys.map((k) => os.delete(k).catch(() => undefined)));
  }

  async purge(prefix: string): Promise<void> {
    const names = (await (await this.#store()).list())
      .filter((i) => !i.deleted && i.name.startsWith(prefix))
      .map((i) => i.name);
    await this.delete(names);
  }
}
