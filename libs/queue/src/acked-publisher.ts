import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { QueueError } from './errors.js';

/** What JetStream answers a publish with once the message is stored. */
export interface StoredAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

/** The JetStream API error of a refused publish (`wrong last sequence`, a stream limit…). */
export class PublishRefusedError extends QueueError {
  constructor(
    readonly subject: string,
    readonly apiCode: number,
    readonly errCode: number | undefined,
    description: string,
  ) {
    super(`${subject}: ${description} (${apiCode}${errCode ? `/${errCode}` : ''})`, 'publish');
  }
}

interface Pending {
  readonly subject: string;
  readonly at: number;
  readonly resolve: (a: StoredAck) => void;
  readonly reject: (e: Error) => void;
}

/** Default time a publish waits for its ack (as the JetStream client's default). */
const DEFAULT_TIMEOUT_MS = 5000;
/** The largest ack this reads (an ack is ~60 bytes; an error a few hundred). */
const MAX_ACK_BYTES = 4096;

/**
 * JetStream publishes that wait for their acks side by side: every publish goes out at once with
 * a reply subject under one inbox subscription of this publisher, and resolves when the server
 * says the message is stored (so a caller that awaits it knows it is durable, as with
 * `js.publish`). Unlike a request per publish it costs no timer and no error objects per message
 * (one sweep for timeouts), which is most of the client's CPU per publish. Publishes on one
 * connection reach the server in order, so two writes of one key are stored in the order made.
 */
export class AckedPublisher {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #inbox: string | undefined;
  #sub: Subscription | undefined;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #next = 0;

  constructor(nc: NatsConnection, o: { timeoutMs?: number } = {}) {
    this.#nc = nc;
    this.#timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Publishes `data` on `subject` (a stream's): resolves with the ack, rejects on a refusal or timeout. */
  publish(subject: string, data: Uint8Array | string, headers?: MsgHdrs): Promise<StoredAck> {
    const inbox = this.#open();
    const id = ++this.#next;
    return new Promise<StoredAck>((resolve, reject) => {
      this.#pending.set(id, { subject, at: performance.now(), resolve, reject });
      try {
        this.#nc.publish(subject, data, { reply: `${inbox}.${id}`, ...(headers ? { headers } : {}) });
      } catch (e) {
        this.#pending.delete(id);
        reject(new QueueError(`${subject}: ${(e as Error).message}`, 'publish', { cause: e }));
      }
      if (!this.#sweep) {
        this.#sweep = setInterval(() => this.#expire(), Math.min(1000, this.#timeoutMs));
        this.#sweep.unref();
      }
    });
  }

  /** Rejects what is still waiting and stops listening (a later publish listens again). */
  close(): void {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    this.#inbox = undefined;
    this.#stopSweep();
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(new QueueError(`${p.subject}: the publisher closed before the ack`, 'publish'));
    }
  }

  /** The inbox acks come to, subscribed on first use (a reader of the queue never listens). */
  #open(): string {
    if (this.#inbox) return this.#inbox;
    // The connection's own inbox prefix (a user whose permissions restrict its inbox has one).
    const prefix = (this.#nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
    const inbox = createInbox(prefix);
    this.#sub = this.#nc.subscribe(`${inbox}.*`, { callback: (err, m) => this.#acked(inbox, err, m) });
    this.#inbox = inbox;
    return inbox;
  }

  #acked(inbox: string, err: Error | null, m: Msg): void {
    if (err) return;
    const id = Number(m.subject.slice(inbox.length + 1));
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#stopSweep();
    // No stream takes the subject: the server says so with a 503 status and no body.
    if (m.headers?.hasError) {
      p.reject(
        new PublishRefusedError(
          p.subject,
          m.headers.code,
          undefined,
          m.headers.description || 'no responders',
        ),
      );
      return;
    }
    const ack = parseAck(m.data);
    if ('error' in ack) p.reject(new PublishRefusedError(p.subject, ack.code, ack.errCode, ack.error));
    else p.resolve(ack);
  }

  #expire(): void {
    const now = performance.now();
    for (const [id, p] of this.#pending) {
      // Oldest first (insertion order): the first one not due ends the sweep.
      if (now - p.at < this.#timeoutMs) break;
      this.#pending.delete(id);
      p.reject(new QueueError(`${p.subject}: no ack within ${this.#timeoutMs} ms`, 'publish'));
    }
    if (this.#pending.size === 0) this.#stopSweep();
  }

  #stopSweep(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }
}

/** A JetStream publish ack, or the API error it carries instead (the server's JSON, checked). */
function parseAck(data: Uint8Array): StoredAck | { error: string; code: number; errCode?: number } {
  if (data.length > MAX_ACK_BYTES) return { error: `an ack of ${data.length} bytes`, code: 0 };
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { error: 'an ack that is not JSON', code: 0 };
  }
  if (typeof v !== 'object' || v === null) return { error: 'an ack that is not an object', code: 0 };
  const { stream, seq, duplicate, error } = v as Record<string, unknown>;
  if (typeof error === 'object' && error !== null) {
    const { code, err_code, description } = error as Record<string, unknown>;
    return {
      error: typeof description === 'string' ? description : 'refused',
      code: typeof code === 'number' ? code : 0,
      ...(typeof err_code === 'number' ? { errCode: err_code } : {}),
    };
  }
  if (typeof stream !== 'string' || stream === '' || typeof seq !== 'number')
    return { error: 'an ack without stream and seq', code: 0 };
  return { stream, seq, duplicate: duplicate === true };
}
