import {
  AckPolicy,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { type Msg, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { AckedPublisher } from './acked-publisher.js';
import { DeadLetterFeed, deadLetterStream, ensureDeadLetterStream } from './dead-letters.js';
import { QueueError } from './errors.js';
import { deliveryInfo, PullClient } from './pull.js';
import {
  DEFAULT_LIMITS,
  type DeadLetter,
  type Delivery,
  type NextOptions,
  type PublishOptions,
  type PublishResult,
  type QueueDepth,
  type MessageCodec,
  type QueueLimits,
  type RefusedMessage,
  type StoredMessage,
  type StoredOptions,
  type WorkConsumer,
  type WorkQueue,
} from './work-queue.js';
import { waitOrAbort } from './wait.js';

const ms = (n: number) => n * 1_000_000;
const ARCH_RE = /^[A-Za-z0-9_-]+$/;

export interface JetStreamQueueOptions<T = unknown> {
  /** Stream name; subjects are `<subjectPrefix>.<arch>`. Several runs may share a server with other names. */
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly limits?: Partial<QueueLimits>;
  /** Plain JSON when not given (no validation: only for payloads the caller trusts). */
  readonly codec?: MessageCodec<T>;
  /** Told of every message the codec refused (it is terminated, and `next` goes on waiting). */
  readonly onRefused?: (r: RefusedMessage) => void;
}

const jsonCodec: MessageCodec<never> = {
  encode: (v) => JSON.stringify(v),
  decode: (data) => JSON.parse(new TextDecoder().decode(data)) as never,
};

/**
 * The work queue on NATS JetStream (nats-server ≥ 2.9): a WorkQueue-retention stream with one
 * subject and one durable pull consumer per arch, shared by every agent of that arch. Dedupe by
 * `Nats-Msg-Id`, leases by `ack_wait` + `working()`, dead letters from the max-deliveries
 * advisories, which a stream beside it keeps (`<stream>_DEAD`, see dead-letters.ts) so that
 * those of messages that died while no producer ran are told too.
 */
export class JetStreamWorkQueue<T> implements WorkQueue<T> {
  readonly limits: QueueLimits;
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #consumers = new Map<string, Promise<Consumer>>();
  /** One pull client per arch consumer (its inbox subscription), made on the first pull. */
  readonly #pullers = new Map<string, PullClient>();
  readonly #deadHandlers: ((d: DeadLetter) => void)[] = [];
  readonly #codec: MessageCodec<T>;
  readonly #onRefused: ((r: RefusedMessage) => void) | undefined;
  /** Opened by `attach`: only looks consumers up, changes nothing on the server. */
  readonly #attached: boolean;
  #deadLetters: DeadLetterFeed | undefined;
  /** Jobs go out without waiting for each other's acks (each caller still awaits its own). */
  readonly #publisher: AckedPublisher;

  private constructor(
    nc: NatsConnection,
    jsm: JetStreamManager,
    o: JetStreamQueueOptions<T>,
    attached = false,
  ) {
    this.#attached = attached;
    this.#nc = nc;
    this.#jsm = jsm;
    this.#js = jetstream(nc);
    this.#publisher = new AckedPublisher(nc);
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.stream = o.stream;
    this.subjectPrefix = o.subjectPrefix;
    this.#codec = o.codec ?? (jsonCodec as MessageCodec<T>);
    this.#onRefused = o.onRefused;
  }

  static async #manager(nc: NatsConnection): Promise<JetStreamManager> {
    return jetstreamManager(nc).catch((e: unknown) => {
      throw new QueueError('JetStream is not enabled on this server (start nats-server with -js)', 'open', {
        cause: e,
      });
    });
  }

  /**
   * The consuming side only (agents): creates and updates nothing, so it needs no more than
   * the right to look up and pull from its consumer. The consumer is made by the producing side
   * (`open`, then `depth`); until it exists, `next` fails and the caller tries again.
   */
  static async attach<T>(nc: NatsConnection, o: JetStreamQueueOptions<T>): Promise<JetStreamWorkQueue<T>> {
    return new JetStreamWorkQueue<T>(nc, await JetStreamWorkQueue.#manager(nc), o, true);
  }

  /**
   * Creates the stream and its dead-letter stream when missing (or updates their limits); the
   * connection stays the caller's.
   */
  static async open<T>(nc: NatsConnection, o: JetStreamQueueOptions<T>): Promise<JetStreamWorkQueue<T>> {
    const jsm = await JetStreamWorkQueue.#manager(nc);
    const q = new JetStreamWorkQueue<T>(nc, jsm, o);
    const config = {
      name: q.stream,
      subjects: [`${q.subjectPrefix}.*`],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: ms(q.limits.duplicateWindowMs),
    };
    try {
      await jsm.streams.info(q.stream);
      await jsm.streams.update(q.stream, { duplicate_window: config.duplicate_window });
    } catch {
      await jsm.streams.add(config).catch((e: unknown) => {
        throw new QueueError(`cannot create stream ${q.stream}: ${(e as Error).message}`, 'open', {
          cause: e,
        });
      });
    }
    await ensureDeadLetterStream(jsm, q.stream).catch((e: unknown) => {
      throw new QueueError(
        `cannot create stream ${deadLetterStream(q.stream)}: ${(e as Error).message}`,
        'open',
        { cause: e },
      );
    });
    return q;
  }

  #subject(arch: string): string {
    if (!ARCH_RE.test(arch)) throw new QueueError(`"${arch}" is not a valid arch name`, 'subject');
    return `${this.subjectPrefix}.${arch}`;
  }

  async publish(arch: string, data: T, opts: PublishOptions): Promise<PublishResult> {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(opts.headers ?? {})) h.set(k, v);
    h.set('Nats-Msg-Id', opts.msgId);
    const ack = await this.#publisher.publish(this.#subject(arch), this.#codec.encode(data), h);
    return { seq: ack.seq, duplicate: ack.duplicate };
  }

  /**
   * Reads the stream's messages one by one from its first sequence (a WorkQueue stream holds
   * exactly the messages not yet acked, terminated or dead), each found with the server's
   * "next message on or after this sequence" so that the gaps acked messages leave cost nothing.
   */
  async stored(o: StoredOptions): Promise<StoredMessage<T>[]> {
    const info = await this.#jsm.streams.info(this.stream);
    if (info.state.messages > o.max)
      throw new QueueError(
        `${this.stream} holds ${info.state.messages} messages, more than the ${o.max} asked for`,
        'stored',
      );
    const out: StoredMessage<T>[] = [];
    const next_by_subj = `${this.subjectPrefix}.*`;
    let seq = info.state.first_seq;
    while (info.state.messages > 0 && seq <= info.state.last_seq && out.length < o.max) {
      // STREAM.MSG.GET takes `next_by_subj` (nats-server ≥ 2.9); the client's type names only `seq`.
      const query = { seq, next_by_subj };
      const m = await this.#jsm.streams.getMessage(this.stream, query);
      if (!m || m.seq > info.state.last_seq) break;
      seq = m.seq + 1;
      const arch = m.subject.slice(this.subjectPrefix.length + 1);
      const msgId = m.header?.get('Nats-Msg-Id') ?? '';
      try {
        out.push({ arch, seq: m.seq, msgId, data: this.#codec.decode(m.data) });
      } catch (error) {
        o.onRefused?.({ arch, seq: m.seq, msgId, error });
      }
    }
    return out;
  }

  #consumer(arch: string): Promise<Consumer> {
    let c = this.#consumers.get(arch);
    if (!c) {
      c = (async () => {
        const name = `agents-${arch}`;
        if (this.#attached) return this.#js.consumers.get(this.stream, name);
        const config = {
          durable_name: name,
          filter_subject: this.#subject(arch),
          ack_policy: AckPolicy.Explicit,
          ack_wait: ms(this.limits.ackWaitMs),
          max_deliver: this.limits.maxDeliver,
        };
        try {
          await this.#jsm.consumers.info(this.stream, name);
          await this.#jsm.consumers.update(this.stream, name, {
            ack_wait: config.ack_wait,
            max_deliver: config.max_deliver,
          });
        } catch {
          await this.#jsm.consumers.add(this.stream, config);
        }
        return this.#js.consumers.get(this.stream, name);
      })();
      this.#consumers.set(arch, c);
      c.catch(() => this.#consumers.delete(arch));
    }
    return c;
  }

  async consumer(arch: string): Promise<WorkConsumer<T>> {
    this.#subject(arch);
    // Attached: looked up on each pull until it exists (the coordinator may not have made it
    // yet); until then a pull finds no work, like an empty queue.
    if (this.#attached)
      return {
        next: async (o) => {
          const c = await this.#consumer(arch).catch(async (e: unknown) => {
            if (!/not found/i.test((e as Error).message)) throw e;
            await waitOrAbort(Math.max(1000, o?.expiresMs ?? 5000), o?.signal);
            return undefined;
          });
          return c ? this.#next(arch, o) : null;
        },
      };
    await this.#consumer(arch);
    return { next: (o) => this.#next(arch, o) };
  }

  #puller(arch: string): PullClient {
    let p = this.#pullers.get(arch);
    if (!p) {
      p = new PullClient(this.#nc, this.stream, `agents-${arch}`);
      this.#pullers.set(arch, p);
    }
    return p;
  }

  async #next(arch: string, o: NextOptions = {}): Promise<Delivery<T> | null> {
    // The server takes pull requests of at least a second.
    const m = await this.#puller(arch)
      .pull(Math.max(1000, o.expiresMs ?? 5000), o.signal)
      .catch((e: unknown) => {
        // The consumer may be gone: an attached queue looks it up again on the next pull.
        this.#consumers.delete(arch);
        throw e;
      });
    return m ? this.#decoded(arch, m) : null;
  }

  /** The delivery, or null for a message the codec refused (terminated: no retry would help). */
  #decoded(arch: string, m: Msg): Delivery<T> | null {
    const info = deliveryInfo(m.reply);
    if (!info) return null;
    let data: T;
    try {
      data = this.#codec.decode(m.data);
    } catch (error) {
      m.respond('+TERM');
      this.#onRefused?.({ arch, seq: info.streamSeq, msgId: m.headers?.get('Nats-Msg-Id') ?? '', error });
      return null;
    }
    return this.#delivery(arch, m, info.deliveryCount, info.streamSeq, data);
  }

  #delivery(arch: string, m: Msg, deliveryCount: number, seq: number, data: T): Delivery<T> {
    const headers: Record<string, string> = {};
    for (const k of m.headers?.keys() ?? []) {
      if (k !== 'Nats-Msg-Id') headers[k] = m.headers?.get(k) ?? '';
    }
    // Every answer but `+WPI` ends the lease: the first one counts, later ones are not sent.
    let final = false;
    const answer = (payload: string) => {
      if (final) return;
      final = payload !== '+WPI';
      m.respond(payload);
    };
    return {
      arch,
      msgId: m.headers?.get('Nats-Msg-Id') ?? '',
      seq,
      data,
      headers,
      deliveryCount,
      working: () => answer('+WPI'),
      ack: async () => {
        if (final) return;
        final = true;
        await this.#nc.request(m.reply ?? '', '+ACK', { timeout: 5000 });
      },
      ackNoWait: () => answer('+ACK'),
      nak: (delayMs) => answer(delayMs ? `-NAK ${JSON.stringify({ delay: delayMs * 1_000_000 })}` : '-NAK'),
      // Without the reason: nats-server before 2.10 ignores a `+TERM` that carries one, and the
      // message would be redelivered once its lease ran out.
      term: () => answer('+TERM'),
    };
  }

  async depth(arch: string): Promise<QueueDepth> {
    await this.#consumer(arch);
    const info = await this.#jsm.consumers.info(this.stream, `agents-${arch}`);
    return { pending: info.num_pending, leased: info.num_ack_pending };
  }

  async idle(arch: string): Promise<number> {
    await this.#consumer(arch);
    return (await this.#jsm.consumers.info(this.stream, `agents-${arch}`)).num_waiting;
  }

  /** Follows the dead-letter stream (`DeadLetterFeed`): what died while no producer ran comes first. */
  onDead(handler: (d: DeadLetter) => void): void {
    this.#deadHandlers.push(handler);
    if (this.#deadLetters) return;
    const nats = { nc: this.#nc, jsm: this.#jsm, js: this.#js };
    this.#deadLetters = new DeadLetterFeed(nats, this, (d) => {
      for (const h of this.#deadHandlers) h(d);
    });
    this.#deadLetters.start();
  }

  /** Removes the stream, its dead letters and their consumers (tests and `--purge`). */
  async destroy(): Promise<void> {
    await this.close();
    await this.#jsm.streams.delete(this.stream).catch(() => false);
    await this.#jsm.streams.delete(deadLetterStream(this.stream)).catch(() => false);
  }

  async close(): Promise<void> {
    for (const p of this.#pullers.values()) p.close();
    this.#pullers.clear();
    this.#publisher.close();
    this.#deadLetters?.stop();
    this.#deadLetters = undefined;
  }
}
