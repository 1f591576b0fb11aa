/** State-store key encoding and the CAS retry helper, which tests exercise directly. Not a stable surface. */
export { decodeKey, encodeKey, modify } from './state-store.js';
/** The pipelined JetStream publisher under the work queue and the KV state store. */
export { AckedPublisher, PublishRefusedError } from './acked-publisher.js';
/** How the pull client under JetStreamWorkQueue's consumers reads ack subjects. */
export { deliveryInfo } from './pull.js';
