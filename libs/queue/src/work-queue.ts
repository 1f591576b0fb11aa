/**
 * The work queue between the coordinator and the agents: one FIFO per architecture, with
 * leases. A delivery stays leased to its agent until `ack` (done), `nak` (give it back, after
 * a delay), `term` (never redeliver) or the lease running out (`ackWaitMs` without `working()`),
 * after which it is delivered again — up to `maxDeliver` times, then it is reported dead.
 */
export interface QueueLimits {
  /** How long a delivery stays leased without a `working()` heartbeat. */
  readonly ackWaitMs: number;
  /** Deliveries before a message is given up and reported through `onDead`. */
  readonly maxDeliver: number;
  /** Publishes of the same `msgId` within this window are dropped as duplicates. */
  readonly duplicateWindowMs: number;
}

export const DEFAULT_LIMITS: QueueLimits = { ackWaitMs: 60_000, maxDeliver: 3, duplicateWindowMs: 120_000 };

/**
 * How a queue's messages travel as bytes over NATS. `decode` throws on a message it refuses
 * (malformed, another protocol version): the queue terminates that message and reports it.
 */
export interface MessageCodec<T> {
  encode(value: T): Uint8Array | string;
  decode(data: Uint8Array): T;
}

/** A message the codec refused: never delivered, never redelivered. */
export interface RefusedMessage {
  readonly arch: string;
  readonly seq: number;
  readonly msgId: string;
  readonly error: unknown;
}

export interface PublishOptions {
  /** Identifies the work: a republish with the same id inside the duplicate window is dropped. */
  readonly msgId: string;
  /** Carried to the consumer as is (W3C `traceparent` goes here). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface PublishResult {
  readonly seq: number;
  readonly duplicate: boolean;
}

export interface Delivery<T> {
  readonly arch: string;
  readonly msgId: string;
  readonly seq: number;
  readonly data: T;
  readonly headers: Readonly<Record<string, string>>;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  /** Extends the lease by another `ackWaitMs`. */
  working(): void;
  /** Done: removes the message for good; resolves once the queue has recorded it. */
  ack(): Promise<void>;
  /**
   * Done, without waiting for the queue to confirm it (no answer travels back): a lost ack only
   * delivers the message again once its lease runs out.
   */
  ackNoWait(): void;
  /** Gives the message back, to be delivered again after `delayMs`. */
  nak(delayMs?: number): void;
  /** A failure that a retry cannot fix: never delivered again. */
  term(reason?: string): void;
}

export interface NextOptions {
  /** Waits at most this long for a message (default 5 s); null when none came. */
  readonly expiresMs?: number;
  readonly signal?: AbortSignal;
}

export interface WorkConsumer<T> {
  next(opts?: NextOptions): Promise<Delivery<T> | null>;
}

/** A message that ran out of deliveries. */
export interface DeadLetter {
  readonly arch: string;
  readonly seq: number;
  readonly msgId: string;
  readonly deliveries: number;
}

export interface QueueDepth {
  /** Published, not yet delivered (or given back). */
  readonly pending: number;
  /** Delivered and leased, not yet acked. */
  readonly leased: number;
}

/**
 * A message the queue holds: published and not yet acked, terminated or told dead (waiting,
 * leased, given back, or dead with no handler told yet: see `onDead`). What a restarted producer
 * reads back to learn what is still out.
 */
export interface StoredMessage<T> {
  readonly arch: string;
  readonly seq: number;
  readonly msgId: string;
  readonly data: T;
}

export interface StoredOptions {
  /** At most this many messages are read (a QueueError past it: memory stays bounded). */
  readonly max: number;
  /** Told of every stored message the codec refused (left where it is, not returned). */
  readonly onRefused?: (r: RefusedMessage) => void;
}

export interface WorkQueue<T> {
  readonly limits: QueueLimits;
  publish(arch: string, data: T, opts: PublishOptions): Promise<PublishResult>;
  /** Every message the queue holds, oldest first (see `StoredMessage`). */
  stored(o: StoredOptions): Promise<StoredMessage<T>[]>;
  /** All consumers of one arch share its FIFO: each message goes to one of them. */
  consumer(arch: string): Promise<WorkConsumer<T>>;
  depth(arch: string): Promise<QueueDepth>;
  /**
   * Pulls waiting for a message on the arch's queue now (one per idle agent slot): the free
   * capacity a coordinator can count on before the agents' next heartbeats.
   */
  idle(arch: string): Promise<number>;
  /**
   * Called once per message that ran out of deliveries, then the message is removed. A message
   * that dies while no handler is registered (its producer crashed) stays stored and is told to
   * the next one registered (on JetStream: by the next producer, from the dead-letter stream), so
   * a restarted producer that resumes from `stored` learns which of those jobs are dead.
   */
  onDead(handler: (d: DeadLetter) => void): void;
  close(): Promise<void>;
}
