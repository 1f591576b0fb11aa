import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { QueueError } from './errors.js';

/** What a JetStream delivery's reply subject says of it. */
export interface DeliveryInfo {
  readonly deliveryCount: number;
  readonly streamSeq: number;
}

/**
 * The delivery count and stream sequence in a JetStream ack subject, or undefined when `reply` is
 * not one: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>`, or the form with
 * `<domain>.<account hash>` after `$JS.ACK` (and a random token at the end).
 */
export function deliveryInfo(reply: string | undefined): DeliveryInfo | undefined {
  if (!reply?.startsWith('$JS.ACK.')) return undefined;
  const t = reply.split('.');
  const at = t.length === 9 ? 4 : t.length >= 11 ? 6 : -1;
  if (at < 0) return undefined;
  const deliveryCount = Number(t[at]);
  const streamSeq = Number(t[at + 1]);
  return Number.isSafeInteger(deliveryCount) && Number.isSafeInteger(streamSeq)
    ? { deliveryCount, streamSeq }
    : undefined;
}

type Waiter = (m: Msg | null | QueueError) => void;

interface Pending {
  /** Past this (ms since the epoch) the server's answer is taken as lost (a reconnect). */
  readonly deadline: number;
  /** Undefined once given up (aborted): a delivery for it goes back to the queue. */
  waiter: Waiter | undefined;
}

/** How much longer than its `expires` a pull waits for the server's answer (lost in a reconnect). */
const LOST_ANSWER_MS = 5000;

/**
 * Pull requests for one message each on one JetStream consumer, all answered under one inbox
 * subscription: nats.js's `consumer.next()` subscribes and unsubscribes an inbox, and arms its
 * own timers, for every pull. Each request ends with one delivery or one status (408 once it
 * expired). A status comes on the request's own reply subject (`<inbox>.<n>`); a delivery keeps
 * its stream subject, so it answers the oldest request (the server serves a consumer's waiting
 * requests in order). A delivery for a request given up meanwhile (aborted) goes back at once
 * (`-NAK`).
 */
export class PullClient {
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #inbox: string;
  readonly #sub: Subscription;
  /** Requests the server has not answered yet, oldest first. */
  readonly #pending = new Map<number, Pending>();
  /**
   * Pulls to give up per signal, under one listener each: an AbortSignal walks all its listeners
   * on every add, and a slot passes the same signal to every pull.
   */
  readonly #bySignal = new WeakMap<AbortSignal, Set<() => void>>();
  #last = 0;

  constructor(nc: NatsConnection, stream: string, consumer: string) {
    this.#nc = nc;
    this.#subject = `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`;
    // The connection's own inbox prefix (an agent's NATS user may subscribe only under it); the
    // client keeps its options on the connection without declaring them in the type.
    const prefix = (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
    this.#inbox = createInbox(prefix);
    this.#sub = nc.subscribe(`${this.#inbox}.*`, { callback: (_err, m) => this.#answer(m) });
  }

  /** The next message, or null when none came within `expiresMs` (or `signal` aborted first). */
  pull(expiresMs: number, signal?: AbortSignal): Promise<Msg | null> {
    if (signal?.aborted) return Promise.resolve(null);
    const id = ++this.#last;
    return new Promise<Msg | null>((resolve, reject) => {
      const p: Pending = { deadline: Date.now() + expiresMs + LOST_ANSWER_MS, waiter: undefined };
      const settle = (m: Msg | null | QueueError) => {
        p.waiter = undefined;
        clearTimeout(timer);
        off();
        if (m instanceof QueueError) reject(m);
        else resolve(m);
      };
      // Aborted: the request stays on the server until it expires; a delivery for it goes back.
      const abandon = () => settle(null);
      const lost = () => {
        this.#pending.delete(id);
        settle(null);
      };
      const timer = setTimeout(lost, expiresMs + LOST_ANSWER_MS);
      p.waiter = settle;
      const off = signal ? this.#onAbort(signal, abandon) : () => {};
      this.#pending.set(id, p);
      try {
        this.#nc.publish(this.#subject, JSON.stringify({ batch: 1, expires: expiresMs * 1_000_000 }), {
          reply: `${this.#inbox}.${id}`,
        });
      } catch (e) {
        this.#pending.delete(id);
        settle(
          new QueueError(`cannot pull from ${this.#subject}: ${(e as Error).message}`, 'pull', { cause: e }),
        );
      }
    });
  }

  #onAbort(signal: AbortSignal, f: () => void): () => void {
    let fs = this.#bySignal.get(signal);
    if (!fs) {
      const all = new Set<() => void>();
      signal.addEventListener('abort', () => {
        for (const g of [...all]) g();
      });
      this.#bySignal.set(signal, all);
      fs = all;
    }
    fs.add(f);
    const set = fs;
    return () => set.delete(f);
  }

  #answer(m: Msg): void {
    if (deliveryInfo(m.reply)) {
      const waiter = this.#oldest();
      if (waiter) waiter(m);
      else m.respond('-NAK');
      return;
    }
    const code = m.headers?.code ?? 0;
    if (code === 100) return;
    const id = Number(m.subject.slice(this.#inbox.length + 1));
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    // 404 no messages, 408 the request expired: no work now. 409: the consumer is gone or refuses
    // the pull (deleted, leadership change, too many waiting): an error the caller backs off from.
    if (code === 409)
      p.waiter?.(
        new QueueError(`pull from ${this.#subject} refused: ${m.headers?.description ?? code}`, 'pull'),
      );
    else p.waiter?.(null);
  }

  /** Takes the oldest request the server still holds: its waiter, or undefined when it was given up. */
  #oldest(): Waiter | undefined {
    const now = Date.now();
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      if (p.deadline >= now) return p.waiter;
    }
    return undefined;
  }

  /** Ends the subscription; pulls still waiting resolve with null. */
  close(): void {
    for (const p of [...this.#pending.values()]) p.waiter?.(null);
    this.#pending.clear();
    this.#sub.unsubscribe();
  }
}
