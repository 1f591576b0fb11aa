import { QueueError } from './errors.js';
import {
  DEFAULT_LIMITS,
  type DeadLetter,
  type Delivery,
  type NextOptions,
  type PublishOptions,
  type PublishResult,
  type QueueDepth,
  type QueueLimits,
  type StoredMessage,
  type StoredOptions,
  type WorkConsumer,
  type WorkQueue,
} from './work-queue.js';

interface Message<T> {
  readonly seq: number;
  readonly msgId: string;
  readonly data: T;
  readonly headers: Readonly<Record<string, string>>;
  deliveries: number;
}

interface Waiter<T> {
  resolve(m: Message<T> | null): void;
}

class ArchQueue<T> {
  readonly ready: Message<T>[] = [];
  readonly leased = new Map<number, ReturnType<typeof setTimeout>>();
  readonly delayed = new Set<ReturnType<typeof setTimeout>>();
  readonly waiters: Waiter<T>[] = [];

  /** Hands the message to a waiting consumer, or queues it (`front` for redeliveries). */
  offer(m: Message<T>, front = false): void {
    const w = this.waiters.shift();
    if (w) w.resolve(m);
    else if (front) this.ready.unshift(m);
    else this.ready.push(m);
  }
}

/**
 * The in-process queue of the embedded mode, with the same lease semantics as the JetStream
 * one (so the coordinator and agents cannot tell them apart).
 */
export class MemoryWorkQueue<T> implements WorkQueue<T> {
  readonly limits: QueueLimits;
  readonly #arches = new Map<string, ArchQueue<T>>();
  readonly #seen = new Map<string, { seq: number; at: number }>();
  readonly #deadHandlers: ((d: DeadLetter) => void)[] = [];
  /** Dead letters nobody was told of yet (no handler then): told to the first one registered. */
  readonly #untold: DeadLetter[] = [];
  /** Messages held (published, not yet acked, terminated or told dead), by seq: `stored()`. */
  readonly #held = new Map<number, StoredMessage<T>>();
  #seq = 0;
  #closed = false;

  constructor(limits: Partial<QueueLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  #arch(arch: string): ArchQueue<T> {
    let q = this.#arches.get(arch);
    if (!q) {
      q = new ArchQueue<T>();
      this.#arches.set(arch, q);
    }
    return q;
  }

  async publish(arch: string, data: T, opts: PublishOptions): Promise<PublishResult> {
    const now = Date.now();
    const prev = this.#seen.get(opts.msgId);
    if (prev && now - prev.at < this.limits.duplicateWindowMs) return { seq: prev.seq, duplicate: true };
    const seq = ++this.#seq;
    this.#seen.set(opts.msgId, { seq, at: now });
    // Structured clone: a consumer must never share objects with the publisher, as over NATS.
    const m = {
      seq,
      msgId: opts.msgId,
      data: structuredClone(data),
      headers: { ...opts.headers },
      deliveries: 0,
    };
    this.#held.set(seq, { arch, seq, msgId: m.msgId, data: m.data });
    this.#arch(arch).offer(m);
    return { seq, duplicate: false };
  }

  async stored(o: StoredOptions): Promise<StoredMessage<T>[]> {
    if (this.#held.size > o.max)
      throw new QueueError(`${this.#held.size} messages stored, more than the ${o.max} asked for`, 'stored');
    return [...this.#held.values()]
      .sort((a, b) => a.seq - b.seq)
      .map((m) => ({ ...m, data: structuredClone(m.data) }));
  }

  async consumer(arch: string): Promise<WorkConsumer<T>> {
    return { next: (o) => this.#next(arch, o) };
  }

  async depth(arch: string): Promise<QueueDepth> {
    const q = this.#arch(arch);
    return { pending: q.ready.length + q.delayed.size, leased: q.leased.size };
  }

  async idle(arch: string): Promise<number> {
    return this.#arch(arch).waiters.length;
  }

  onDead(handler: (d: DeadLetter) => void): void {
    this.#deadHandlers.push(handler);
    // As the JetStream queue: told after the registration returns, then removed.
    const untold = this.#untold.splice(0);
    if (untold.length)
      queueMicrotask(() => {
        for (const d of untold) this.#tellDead(d);
      });
  }

  #tellDead(d: DeadLetter): void {
    this.#held.delete(d.seq);
    for (const h of this.#deadHandlers) h(d);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const q of this.#arches.values()) {
      for (const t of q.leased.values()) clearTimeout(t);
      for (const t of q.delayed) clearTimeout(t);
      for (const w of q.waiters.splice(0)) w.resolve(null);
    }
  }

  async #next(arch: string, o: NextOptions = {}): Promise<Delivery<T> | null> {
    if (this.#closed) return null;
    const q = this.#arch(arch);
    const m =
      q.ready.shift() ??
      (await new Promise<Message<T> | null>((resolve) => {
        const waiter: Waiter<T> = {
          resolve: (x) => {
            clearTimeout(timer);
            o.signal?.removeEventListener('abort', onAbort);
            resolve(x);
          },
        };
        const drop = () => {
          const i = q.waiters.indexOf(waiter);
          if (i >= 0) q.waiters.splice(i, 1);
          waiter.resolve(null);
        };
        const onAbort = () => drop();
        const timer = setTimeout(drop, o.expiresMs ?? 5000);
        o.signal?.addEventListener('abort', onAbort, { once: true });
        q.waiters.push(waiter);
      }));
    return m ? this.#lease(arch, q, m) : null;
  }

  #lease(arch: string, q: ArchQueue<T>, m: Message<T>): Delivery<T> {
    m.deliveries++;
    let settled = false;
    const arm = () => {
      const prev = q.leased.get(m.seq);
      if (prev) clearTimeout(prev);
      q.leased.set(
        m.seq,
        setTimeout(() => expire(), this.limits.ackWaitMs),
      );
    };
    const release = () => {
      settled = true;
      this.#held.delete(m.seq);
      const t = q.leased.get(m.seq);
      if (t) clearTimeout(t);
      q.leased.delete(m.seq);
    };
    const expire = () => {
      if (settled) return;
      release();
      this.#hold(arch, m);
      this.#redeliver(arch, q, m, 0);
    };
    arm();
    return {
      arch,
      msgId: m.msgId,
      seq: m.seq,
      data: m.data,
      headers: m.headers,
      deliveryCount: m.deliveries,
      working: () => {
        if (!settled) arm();
      },
      ack: async () => {
        if (!settled) release();
      },
      ackNoWait: () => {
        if (!settled) release();
      },
      nak: (delayMs = 0) => {
        if (settled) return;
        release();
        this.#hold(arch, m);
        this.#redeliver(arch, q, m, delayMs);
      },
      term: () => {
        if (!settled) release();
      },
    };
  }

  /** Held again: a message given back (nak, lease run out) is still stored until it dies. */
  #hold(arch: string, m: Message<T>): void {
    this.#held.set(m.seq, { arch, seq: m.seq, msgId: m.msgId, data: m.data });
  }

  #redeliver(arch: string, q: ArchQueue<T>, m: Message<T>, delayMs: number): void {
    if (this.#closed) return;
    if (m.deliveries >= this.limits.maxDeliver) {
      const dead: DeadLetter = { arch, seq: m.seq, msgId: m.msgId, deliveries: m.deliveries };
      // Stored until told (a producer that reads `stored` first resumes it, then is told).
      if (this.#deadHandlers.length) this.#tellDead(dead);
      else this.#untold.push(dead);
      return;
    }
    if (delayMs <= 0) {
      q.offer(m, true);
      return;
    }
    const t = setTimeout(() => {
      q.delayed.delete(t);
      q.offer(m, true);
    }, delayMs);
    q.delayed.add(t);
  }
}
