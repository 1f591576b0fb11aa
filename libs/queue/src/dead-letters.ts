import {
  AckPolicy,
  type ConsumerMessages,
  DiscardPolicy,
  type JetStreamClient,
  JetStreamApiError,
  type JetStreamManager,
  type JsMsg,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { DeadLetter } from './work-queue.js';

const ms = (n: number) => n * 1_000_000;
const DAY_MS = 86_400_000;

/**
 * How long a dead letter nobody was told of is kept (a coordinator down that long): a week, as
 * long as staged uploads live. One that ages out only costs a retry: past the duplicate window the
 * restarted coordinator's re-send of the job is a new message, delivered again.
 */
const DEAD_LETTER_MAX_AGE_MS = 7 * DAY_MS;
/** Dead letters kept at most (about 300 bytes each); the oldest go first. */
const DEAD_LETTER_MAX_MSGS = 100_000;
/** The durable consumer through which the producing side (the coordinator) is told. */
const CONSUMER = 'dead-letters';
/** A dead letter whose job could not be read or removed (the server busy) comes back after this. */
const RETRY_MS = 1000;
/** nats-server's JSStreamNameExistErr: a stream of that name exists with another configuration. */
const STREAM_NAME_IN_USE = 10058;

/**
 * The stream that keeps the max-deliveries advisories of work stream `stream`: the server
 * publishes one (`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>`) when a message
 * runs out of deliveries, whether or not anyone listens; kept here, it waits for a coordinator.
 */
export function deadLetterStream(stream: string): string {
  return `${stream}_DEAD`;
}

/**
 * Creates the dead-letter stream of `stream` when missing (bounded by age and count), or brings
 * its limits to these. WorkQueue retention: an advisory goes once its consumer acks it.
 */
export async function ensureDeadLetterStream(jsm: JetStreamManager, stream: string): Promise<void> {
  const name = deadLetterStream(stream);
  const limits = { max_age: ms(DEAD_LETTER_MAX_AGE_MS), max_msgs: DEAD_LETTER_MAX_MSGS };
  try {
    await jsm.streams.add({
      name,
      subjects: [`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.*`],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      ...limits,
    });
  } catch (e) {
    // There already, made with other limits.
    if (!(e instanceof JetStreamApiError) || e.code !== STREAM_NAME_IN_USE) throw e;
    await jsm.streams.update(name, limits);
  }
}

/** The fields of a max-deliveries advisory used here, or undefined when `data` is not one. */
interface Advisory {
  readonly stream: string;
  readonly stream_seq: number;
  readonly deliveries: number;
  /** When the server gave the message up (ms since epoch). */
  readonly at: number;
}

function maxDeliveriesAdvisory(data: Uint8Array): Advisory | undefined {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { stream, stream_seq, deliveries, timestamp } = v as Record<string, unknown>;
  const at = typeof timestamp === 'string' ? Date.parse(timestamp) : Number.NaN;
  return typeof stream === 'string' &&
    typeof stream_seq === 'number' &&
    typeof deliveries === 'number' &&
    !Number.isNaN(at)
    ? { stream, stream_seq, deliveries, at }
    : undefined;
}

/**
 * Tells `tell` of every message of `stream` that ran out of deliveries, from the dead-letter
 * stream: those that died while nobody listened (no coordinator ran) first, then each as it dies.
 * Each is read from the work stream, told, then removed from it, and only then is its advisory
 * acked: a crash in between leaves the job stored (a restarted coordinator resumes it) and the
 * advisory unacked (it is told again). One whose job is gone (acked after all, or removed by an
 * earlier coordinator) is not told.
 */
export class DeadLetterFeed {
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #js: JetStreamClient;
  readonly #stream: string;
  readonly #subjectPrefix: string;
  readonly #tell: (d: DeadLetter) => void;
  #messages: ConsumerMessages | undefined;
  #stopped = false;

  constructor(
    nats: { readonly nc: NatsConnection; readonly jsm: JetStreamManager; readonly js: JetStreamClient },
    work: { readonly stream: string; readonly subjectPrefix: string },
    tell: (d: DeadLetter) => void,
  ) {
    const { nc, jsm, js } = nats;
    this.#nc = nc;
    this.#jsm = jsm;
    this.#js = js;
    this.#stream = work.stream;
    this.#subjectPrefix = work.subjectPrefix;
    this.#tell = tell;
  }

  /**
   * Follows the dead letters until `stop` (or the connection is closed). Its consumer is made (or
   * found) first; when that or the subscription fails (the server not answering), it is tried
   * again after a pause.
   */
  start(): void {
    void (async () => {
      while (!this.#stopped && !this.#nc.isClosed()) {
        try {
          await this.#follow();
        } catch {
          // Tried again below.
        }
        if (!this.#stopped) await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    })();
  }

  stop(): void {
    this.#stopped = true;
    void this.#messages?.close();
  }

  async #follow(): Promise<void> {
    const name = deadLetterStream(this.#stream);
    const ackWait = ms(30_000);
    // Made once; one made with another lease is brought to this one (a WorkQueue stream takes a
    // single unfiltered consumer, so it is never made twice).
    await this.#jsm.consumers
      .add(name, { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, ack_wait: ackWait })
      .catch(() => this.#jsm.consumers.update(name, CONSUMER, { ack_wait: ackWait }));
    const messages = await (await this.#js.consumers.get(name, CONSUMER)).consume();
    this.#messages = messages;
    if (this.#stopped) void messages.close();
    for await (const m of messages) await this.#handle(m);
  }

  async #handle(m: JsMsg): Promise<void> {
    const a = maxDeliveriesAdvisory(m.data);
    // Not the server's advisory, or another stream's: nothing of this queue died.
    if (!a || a.stream !== this.#stream) return m.ack();
    const stored = await this.#jsm.streams
      .getMessage(this.#stream, { seq: a.stream_seq })
      .catch(() => undefined);
    if (stored === undefined) return m.nak(RETRY_MS);
    // Gone, or a message stored after the advisory under the same sequence (the stream was made
    // again): not the one that died.
    if (stored === null || stored.time.getTime() > a.at) return m.ack();
    try {
      this.#tell({
        arch: stored.subject.slice(this.#subjectPrefix.length + 1),
        seq: a.stream_seq,
        msgId: stored.header?.get('Nats-Msg-Id') ?? '',
        deliveries: a.deliveries,
      });
    } catch {
      // The handler's own failure: it was told, the job is dead all the same.
    }
    // A WorkQueue stream keeps a message that ran out of deliveries: removed, it is dead. When
    // that fails, the advisory comes back: told again if the job is still there (the handler
    // ignores a build already settled), acked if it is gone.
    const removed = await this.#jsm.streams.deleteMessage(this.#stream, a.stream_seq, false).then(
      () => true,
      () => false,
    );
    if (removed) m.ack();
    else m.nak(RETRY_MS);
  }
}
