/**
 * The coordinator↔agent contract: a work queue with leases, dead letters, and a CAS state store,
 * in-process or on NATS JetStream. Tests reach key encoding through `@melange2/queue/internal`.
 */
export { KeyExistsError, QueueError, RevisionMismatchError, StateRecordError } from './errors.js';
export { type JetStreamQueueOptions, JetStreamWorkQueue } from './jetstream-queue.js';
export { MemoryWorkQueue } from './memory-queue.js';
export { NatsStateStore } from './nats-state-store.js';
export {
  type Decode,
  type Entry,
  MemoryStateStore,
  type StateSnapshot,
  type StateStore,
} from './state-store.js';
export type {
  DeadLetter,
  Delivery,
  NextOptions,
  PublishOptions,
  PublishResult,
  QueueDepth,
  QueueLimits,
  RefusedMessage,
  WorkConsumer,
  WorkQueue,
} from './work-queue.js';
export { contextFromHeaders, traceHeaders } from './trace-context.js';
