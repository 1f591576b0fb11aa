import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import { QueueError } from './errors.js';
import { InboxRequests } from './inbox-requests.js';

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

/** Default time a publish waits for its ack (as the JetStream client's default). */
const DEFAULT_TIMEOUT_MS = 5000;
/** The largest ack this reads (an ack is ~60 bytes; an error a few hundred). */
const MAX_ACK_BYTES = 4096;

/**
 * JetStream publishes that wait for their acks side by side: every publish goes out at once with
 * a reply subject under one inbox subscription of this publisher (`InboxRequests`), and resolves
 * when the server says the message is stored (so a caller that awaits it knows it is durable, as
 * with `js.publish`). Publishes on one connection reach the server in order, so two writes of one
 * key are stored in the order made.
 */
export class AckedPublisher {
  readonly #requests: InboxRequests;

  constructor(nc: NatsConnection, o: { timeoutMs?: number } = {}) {
    const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#requests = new InboxRequests(nc, { timeoutMs, what: 'publish', noAnswer: 'no ack' });
  }

  /** Publishes `data` on `subject` (a stream's): resolves with the ack, rejects on a refusal or timeout. */
  async publish(subject: string, data: Uint8Array | string, headers?: MsgHdrs): Promise<StoredAck> {
    const m = await this.#requests.request(subject, data, headers);
    // No stream takes the subject: the server says so with a 503 status and no body.
    if (m.headers?.hasError)
      throw new PublishRefusedError(
        subject,
        m.headers.code,
        undefined,
        m.headers.description || 'no responders',
      );
    const ack = parseAck(m.data);
    if ('error' in ack) throw new PublishRefusedError(subject, ack.code, ack.errCode, ack.error);
    return ack;
  }

  /** Rejects what is still waiting and stops listening (a later publish listens again). */
  close(): void {
    this.#requests.close((subject) => `${subject}: the publisher closed before the ack`);
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
