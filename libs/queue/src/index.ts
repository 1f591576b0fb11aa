/**
 * The coordinator↔agent contract: a work queue with leases, dead letters, and a CAS state store,
 * in-process or on NATS JetStream. Tests reach key encoding through `@melange2/queue/internal`.
 */
export { KeyExistsError, RevisionMismatchError, StateRecordError } from './errors.js';
/** @public The base of both errors above. */
export { QueueError } from './errors.js';
export { JetStreamWorkQueue } from './jetstream-queue.js';
export { InboxRequests } from './inbox-requests.js';
export { deadLetterStream } from './dead-letters.js';
export { ensureMaxAge } from './max-age.js';
export { connectNats, isAuthRefusal, natsFileOptions } from './connect-options.js';
/** @public The argument of natsFileOptions. */
export type { NatsFiles } from './connect-options.js';
export { MemoryWorkQueue } from './memory-queue.js';
export { waitOrAbort } from './wait.js';
export { NatsStateStore } from './nats-state-store.js';
export { type Decode, MemoryStateStore, type StateSnapshot, type StateStore } from './state-store.js';
export type { DeadLetter, Delivery, QueueLimits, RefusedMessage, WorkQueue } from './work-queue.js';
export { contextFromHeaders, traceHeaders } from './trace-context.js';
/** @public The types in the signatures of WorkQueue and StateStore, for their users and implementers. */
export type { JetStreamQueueOptions } from './jetstream-queue.js';
/** @public */
export type { Entry } from './state-store.js';
/** @public */
export type {
  NextOptions,
  PublishOptions,
  PublishResult,
  QueueDepth,
  StoredMessage,
  StoredOptions,
  WorkConsumer,
} from './work-queue.js';
