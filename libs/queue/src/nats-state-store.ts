import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { AckedPublisher } from './acked-publisher.js';
import { ensureMaxAge } from './max-age.js';
import { KeyExistsError, QueueError, RevisionMismatchError, StateRecordError } from './errors.js';
import { type Decode, decodeKey, type Entry, encodeKey, type StateStore } from './state-store.js';

/** A StateStore in a JetStream KV bucket (values as JSON, each checked by `decode` when read). */
export class NatsStateStore<T> implements StateStore<T> {
  readonly #decode: Decode<T>;
  /**
   * Puts of a bucket this store made (`open`: its subjects are `$KV.<bucket>.<key>`) go out
   * side by side, each awaited for its own ack; a bound bucket (maybe a mirror) puts through KV.
   */
  readonly #publisher: { readonly nc: NatsConnection; readonly acked: AckedPublisher } | undefined;

  private constructor(
    readonly bucket: string,
    readonly kv: KV,
    decode: Decode<T>,
    publisher?: { readonly nc: NatsConnection; readonly acked: AckedPublisher },
  ) {
    this.#decode = decode;
    this.#publisher = publisher;
  }

  static async open<T>(
    nc: NatsConnection,
    bucket: string,
    opts: {
      history?: number;
      decode: Decode<T>;
      /** Keys not written for this long are removed by the server (the bucket's `ttl`). */
      maxAgeMs?: number;
    },
  ): Promise<NatsStateStore<T>> {
    try {
      const kv = await new Kvm(nc).create(bucket, {
        history: opts.history ?? 1,
        ...(opts.maxAgeMs ? { ttl: opts.maxAgeMs } : {}),
      });
      if (opts.maxAgeMs) await ensureMaxAge(nc, `KV_${bucket}`, opts.maxAgeMs);
      return new NatsStateStore<T>(bucket, kv, opts.decode, { nc, acked: new AckedPublisher(nc) });
    } catch (e) {
      throw new QueueError(`cannot open KV bucket ${bucket}: ${(e as Error).message}`, 'open', { cause: e });
    }
  }

  /**
   * Opens an existing bucket without creating or changing it (a reader's permissions suffice).
   * `direct`: reads are direct gets whose subject names the key
   * (`$JS.API.DIRECT.GET.KV_<bucket>.$KV.<bucket>.<key>`), so a server can allow a reader single keys.
   */
  static async bind<T>(
    nc: NatsConnection,
    bucket: string,
    opts: { decode: Decode<T>; direct?: boolean },
  ): Promise<NatsStateStore<T>> {
    try {
      const kv = await new Kvm(nc).open(bucket, opts.direct ? { allow_direct: true } : {});
      return new NatsStateStore<T>(bucket, kv, opts.decode);
    } catch (e) {
      throw new QueueError(`cannot open KV bucket ${bucket}: ${(e as Error).message}`, 'open', { cause: e });
    }
  }

  async get(key: string): Promise<Entry<T> | undefined> {
    const e = await this.kv.get(encodeKey(key));
    if (e?.operation !== 'PUT') return undefined;
    let value: T;
    try {
      value = this.#decode(JSON.parse(e.string()));
    } catch (cause) {
      throw new StateRecordError(this.bucket, key, (cause as Error).message, { cause });
    }
    return { key, value, revision: e.revision };
  }

  async put(key: string, value: T): Promise<number> {
    const k = encodeKey(key);
    if (!this.#publisher) return this.kv.put(k, JSON.stringify(value));
    // As KV checks a key: no empty token (`a..b`, a leading or trailing dot) in the subject.
    if (!VALID_KEY.test(k)) throw new QueueError(`"${key}" is not a valid key`, 'put');
    return (await this.#publisher.acked.publish(`$KV.${this.bucket}.${k}`, JSON.stringify(value))).seq;
  }

  putNoWait(key: string, value: T): void {
    const k = encodeKey(key);
    if (!this.#publisher || !VALID_KEY.test(k)) {
      this.put(key, value).catch(() => {});
      return;
    }
    // A plain publish on the key's subject: the stream stores it, no ack is asked for.
    this.#publisher.nc.publish(`$KV.${this.bucket}.${k}`, JSON.stringify(value));
  }

  async create(key: string, value: T): Promise<number> {
    try {
      return await this.kv.create(encodeKey(key), JSON.stringify(value));
    } catch (e) {
      // The key exists, or existed a moment ago and was written or deleted since (the server
      // says "wrong last sequence"): either way this create lost, and the caller may try again.
      if (isConflict(e) || (await this.get(key))) throw new KeyExistsError(this.bucket, key, { cause: e });
      throw e;
    }
  }

  async update(key: string, value: T, revision: number): Promise<number> {
    try {
      return await this.kv.update(encodeKey(key), JSON.stringify(value), revision);
    } catch (e) {
      if (isConflict(e)) {
        throw new RevisionMismatchError(this.bucket, key, revision, { cause: e });
      }
      throw e;
    }
  }

  async delete(key: string): Promise<void> {
    await this.kv.delete(encodeKey(key));
  }

  async keys(prefix = ''): Promise<string[]> {
    const out: string[] = [];
    // A prefix of whole tokens is a subject filter: the server lists only those keys (a run's
    // failures without its thousands of build records). Any other prefix lists every key.
    const filter =
      prefix.endsWith('.') && encodeKey(prefix) === prefix && VALID_KEY.test(prefix.slice(0, -1));
    for await (const k of await this.kv.keys(filter ? `${prefix}>` : undefined)) {
      const d = decodeKey(k);
      if (d.startsWith(prefix)) out.push(d);
    }
    return out.sort();
  }
}

/** An encoded key KV accepts: tokens of `[-/_=a-zA-Z0-9]` between single dots. */
const VALID_KEY = /^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$/;

/** How the server answers a write whose expected revision is stale. */
function isConflict(e: unknown): boolean {
  return /wrong last sequence|key exists/i.test((e as Error).message);
}
