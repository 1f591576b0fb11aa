export { KeyExistsError, QueueError, RevisionMismatchError, StateRecordError } from './errors.js';
export { JetStreamWorkQueue, type JetStreamQueueOptions } from './jetstream-queue.js';
export { MemoryWorkQueue } from './memory-queue.js';
export { NatsStateStore } from './nats-state-store.js';
export {
  type Decode,
  decodeKey,
  type Entry,
  encodeKey,
  MemoryStateStore,
  modify,
  type StateSnapshot,
  type StateStore,
} from './state-store.js';
export {
  DEFAULT_LIMITS,
  type DeadLetter,
  type Delivery,
  type MessageCodec,
  type NextOptions,
  type PublishOptions,
  type PublishResult,
  type QueueDepth,
  type QueueLimits,
  type RefusedMessage,
  type WorkConsumer,
  type WorkQueue,
} from './work-queue.js';
export { contextFromHeaders, traceHeaders } from './trace-context.js';
