import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { QueueError } from './errors.js';

interface Pending {
  readonly subject: string;
  readonly at: number;
  readonly resolve: (m: Msg) => void;
  readonly reject: (e: Error) => void;
}

/**
 * Requests whose answers come to one inbox subscription (`<inbox>.<n>`), side by side: unlike
 * `nc.request` they cost no timer and no error objects per request (one sweep for timeouts),
 * which is most of the client's CPU per request. A request resolves with the answer as it came
 * (a status such as 503 "no responders" included: the caller reads it).
 */
export class InboxRequests {
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;
  /** What a request is for, in errors ("publish", "report"). */
  readonly #what: string;
  /** What a missing answer is called in the timeout error ("no ack"). */
  readonly #noAnswer: string;
  readonly #pending = new Map<number, Pending>();
  #inbox: string | undefined;
  #sub: Subscription | undefined;
  #sweep: ReturnType<typeof setInterval> | undefined;
  #next = 0;

  constructor(nc: NatsConnection, o: { timeoutMs: number; what: string; noAnswer?: string }) {
    this.#nc = nc;
    this.#timeoutMs = o.timeoutMs;
    this.#what = o.what;
    this.#noAnswer = o.noAnswer ?? 'no answer';
  }

  /** Sends `data` on `subject`: resolves with the answer, rejects once `timeoutMs` passed without one. */
  request(subject: string, data: Uint8Array | string, headers?: MsgHdrs): Promise<Msg> {
    const inbox = this.#open();
    const id = ++this.#next;
    return new Promise<Msg>((resolve, reject) => {
      this.#pending.set(id, { subject, at: performance.now(), resolve, reject });
      try {
        this.#nc.publish(subject, data, { reply: `${inbox}.${id}`, ...(headers ? { headers } : {}) });
      } catch (e) {
        this.#pending.delete(id);
        reject(new QueueError(`${subject}: ${(e as Error).message}`, this.#what, { cause: e }));
      }
      if (!this.#sweep) {
        this.#sweep = setInterval(() => this.#expire(), Math.min(1000, this.#timeoutMs));
        this.#sweep.unref();
      }
    });
  }

  /** Rejects what is still waiting with `closed(subject)` and stops listening (a later request listens again). */
  close(closed: (subject: string) => string): void {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    this.#inbox = undefined;
    this.#stopSweep();
    for (const [id, p] of this.#pending) {
      this.#pending.delete(id);
      p.reject(new QueueError(closed(p.subject), this.#what));
    }
  }

  /** The inbox answers come to, subscribed on first use. */
  #open(): string {
    if (this.#inbox) return this.#inbox;
    // The connection's own inbox prefix (a user whose permissions restrict its inbox has one).
    const prefix = (this.#nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
    const inbox = createInbox(prefix);
    this.#sub = this.#nc.subscribe(`${inbox}.*`, { callback: (err, m) => this.#answered(inbox, err, m) });
    this.#inbox = inbox;
    return inbox;
  }

  #answered(inbox: string, err: Error | null, m: Msg): void {
    if (err) return;
    const id = Number(m.subject.slice(inbox.length + 1));
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#stopSweep();
    p.resolve(m);
  }

  #expire(): void {
    const now = performance.now();
    for (const [id, p] of this.#pending) {
      // Oldest first (insertion order): the first one not due ends the sweep.
      if (now - p.at < this.#timeoutMs) break;
      this.#pending.delete(id);
      p.reject(new QueueError(`${p.subject}: ${this.#noAnswer} within ${this.#timeoutMs} ms`, this.#what));
    }
    if (this.#pending.size === 0) this.#stopSweep();
  }

  #stopSweep(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }
}
