import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { type ObjectStore, Objm } from '@nats-io/obj';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { natsNames } from '../names.js';
import {
  type BuildLogStore,
  type BuildOfRun,
  decodeLogRef,
  LogError,
  type LiveSink,
  type LogKey,
  type LogRef,
  type LogRetention,
  type LogRun,
  logPath,
  refsOf,
  runsToDrop,
} from './log-ref.js';
import { readObject } from '../object-read.js';

/** The header of the message that closes a build's live log. */
const END = 'm2-log-end';
/** Live text is sent in chunks of at most this many bytes, or after this long. */
const CHUNK_BYTES = 32 * 1024;
const CHUNK_MS = 250;
/** The live stream keeps a day of text, at most 1 GiB: finished logs are in the object store. */
const LIVE_MAX_AGE_NS = 24 * 3600 * 1e9;
const LIVE_MAX_BYTES = 1024 ** 3;

/** The live subject of a build: one token, so names with dots stay one subject level. */
function liveSubject(ns: string, k: LogKey): string {
  return `${natsNames(ns).logSubjectPrefix}.${Buffer.from(logPath(k)).toString('base64url')}`;
}

/** A running build's text as messages on its live subject (captured by the live stream). */
class NatsLiveSink implements LiveSink {
  #buf = '';
  #timer: ReturnType<typeof setTimeout> | undefined;
  constructor(
    readonly nc: NatsConnection,
    readonly subject: string,
  ) {}

  write(chunk: string): void {
    this.#buf += chunk;
    if (this.#buf.length >= CHUNK_BYTES) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), CHUNK_MS);
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const bytes = Buffer.from(this.#buf);
    this.#buf = '';
    // Chunks under the server's payload limit (a multi-byte text may weigh up to 4× its length).
    for (let i = 0; i < bytes.length; i += 256 * 1024)
      if (!this.nc.isClosed()) this.nc.publish(this.subject, bytes.subarray(i, i + 256 * 1024));
  }

  async close(): Promise<void> {
    this.#flush();
    if (this.nc.isClosed()) return;
    const h = headers();
    h.set(END, '1');
    this.nc.publish(this.subject, new Uint8Array(), { headers: h });
    await this.nc.flush().catch(() => undefined);
  }
}

/**
 * Logs in JetStream (distributed mode): references `ref/<run>/<arch>/<name>` and blobs
 * `blob/<run>/<sha256>` in the `<ns>_logs` object store; running builds' text on
 * `<ns>.logs.<build>` subjects kept by the `<NS>_LOGS` stream, which a follower reads from
 * the start.
 */
export class ObjectLogStore implements BuildLogStore {
  readonly #store: () => Promise<ObjectStore>;

  private constructor(
    readonly nc: NatsConnection,
    readonly ns: string,
    store: () => Promise<ObjectStore>,
  ) {
    this.#store = store;
  }

  /**
   * An agent's view: the store the coordinator made, opened when first used and never created
   * (a locked-down server lets agents write logs but not make streams); until the coordinator has
   * made it, a build's log is not kept (the build does not depend on it).
   */
  static attach(nc: NatsConnection, ns: string): ObjectLogStore {
    let os: Promise<ObjectStore> | undefined;
    return new ObjectLogStore(nc, ns, () => {
      os ??= new Objm(nc).open(natsNames(ns).logs);
      os.catch(() => {
        os = undefined;
      });
      return os;
    });
  }

  static async open(nc: NatsConnection, ns: string): Promise<ObjectLogStore> {
    const names = natsNames(ns);
    const jsm = await jetstreamManager(nc);
    const config = {
      name: names.logStream,
      subjects: [`${names.logSubjectPrefix}.>`],
      storage: StorageType.File,
      max_age: LIVE_MAX_AGE_NS,
      max_bytes: LIVE_MAX_BYTES,
      discard: DiscardPolicy.Old,
    };
    await jsm.streams.info(names.logStream).catch(() =>
      jsm.streams.add(config).catch((e: unknown) => {
        // Created meanwhile by another agent or coordinator.
        if (!/already in use/i.test((e as Error).message)) throw e;
      }),
    );
    const os = await new Objm(nc).create(names.logs);
    return new ObjectLogStore(nc, ns, async () => os);
  }

  async begin(ref: LogRef): Promise<LiveSink> {
    await this.#putRef(ref);
    return new NatsLiveSink(this.nc, liveSubject(this.ns, ref));
  }

  async #putRef(ref: LogRef): Promise<void> {
    const key = `ref/${logPath(ref)}`;
    try {
      await (await this.#store()).putBlob({ name: key }, new TextEncoder().encode(JSON.stringify(ref)));
    } catch (e) {
      throw new LogError('log-store', key, (e as Error).message, { cause: e });
    }
  }

  async finish(ref: LogRef & { digest: string }, gzFile: string): Promise<void> {
    const key = `blob/${ref.runId}/${ref.digest}`;
    const have = await (await this.#store()).info(key).catch(() => null);
    if (!have || have.deleted) {
      const web = Readable.toWeb(createReadStream(gzFile)) as unknown as ReadableStream<Uint8Array>;
      try {
        await (await this.#store()).put({ name: key }, web);
      } catch (e) {
        throw new LogError('log-store', key, (e as Error).message, { cause: e });
      }
    }
    await this.#putRef(ref);
  }

  async ref(k: LogKey): Promise<LogRef | undefined> {
    const key = `ref/${logPath(k)}`;
    const bytes = await readObject(await this.#store(), key);
    return bytes ? decodeLogRef(key, bytes) : undefined;
  }

  async blob(ref: LogRef & { digest: string }): Promise<NodeJS.ReadableStream | undefined> {
    const r = await (await this.#store()).get(`blob/${ref.runId}/${ref.digest}`);
    if (!r) return undefined;
    return Readable.fromWeb(r.data as unknown as WebReadableStream<Uint8Array>);
  }

  async *live(
    k: LogKey,
    o: { signal?: AbortSignal; done: () => Promise<boolean> },
  ): AsyncIterable<Uint8Array> {
    const consumer = await jetstream(this.nc).consumers.get(natsNames(this.ns).logStream, {
      filter_subjects: liveSubject(this.ns, k),
      deliver_policy: DeliverPolicy.All,
    });
    try {
      while (!o.signal?.aborted) {
        const m = await consumer.next({ expires: 1000 });
        if (!m) {
          if (await o.done()) return;
          continue;
        }
        if (m.headers?.get(END)) return;
        if (m.data.length > 0) yield m.data;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  async #names(prefix: string): Promise<{ name: string; at: number }[]> {
    return (await (await this.#store()).list())
      .filter((i) => !i.deleted && i.name.startsWith(prefix))
      .map((i) => ({ name: i.name, at: Date.parse(i.mtime) }));
  }

  async runs(): Promise<LogRun[]> {
    const at = new Map<string, number>();
    for (const r of await this.#names('ref/')) {
      const id = r.name.split('/')[1]!;
      at.set(id, Math.max(at.get(id) ?? 0, r.at));
    }
    return [...at]
      .map(([runId, t]) => ({ runId, at: t }))
      .sort((a, b) => b.at - a.at || (a.runId < b.runId ? 1 : -1));
  }

  async abandon(runId: string, only?: readonly BuildOfRun[]): Promise<string[]> {
    const out: string[] = [];
    for (const r of await refsOf(this, runId, only)) {
      if (r.state !== 'running') continue;
      await this.#putRef({ ...r, state: 'cancelled', finishedAt: Date.now() });
      out.push(logPath(r));
    }
    return out;
  }

  /** From the live stream's last message (its subject names the build): no listing of the bucket. */
  async latest(): Promise<string | undefined> {
    const names = natsNames(this.ns);
    const jsm = await jetstreamManager(this.nc);
    const last = (await jsm.streams.info(names.logStream)).state.last_seq;
    const m =
      last > 0 ? await jsm.streams.getMessage(names.logStream, { seq: last }).catch(() => null) : null;
    if (m) {
      const path = Buffer.from(m.subject.slice(names.logSubjectPrefix.length + 1), 'base64url').toString();
      const runId = path.split('/')[0];
      if (runId) return runId;
    }
    return (await this.runs())[0]?.runId;
  }

  async list(runId: string): Promise<LogRef[]> {
    const names = await this.#names(`ref/${runId}/`);
    const out: LogRef[] = [];
    for (const { name } of names) {
      const bytes = await readObject(await this.#store(), name);
      if (bytes) out.push(decodeLogRef(name, bytes));
    }
    return out;
  }

  async prune(keep: LogRetention): Promise<string[]> {
    const drop = runsToDrop(await this.runs(), keep);
    for (const id of drop)
      for (const prefix of [`ref/${id}/`, `blob/${id}/`])
        for (const { name } of await this.#names(prefix))
          await (await this.#store()).delete(name).catch(() => undefined);
    return drop;
  }
}
