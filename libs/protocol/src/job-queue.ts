import { JetStreamWorkQueue, type QueueLimits, type RefusedMessage } from '@melange2/queue';
import type { NatsConnection } from '@nats-io/transport-node';
import { jobCodec } from './codec.js';
import type { BuildJob } from './messages.js';
import { natsNames } from './names.js';

/**
 * A namespace's work queue of builds on JetStream, every job encoded and checked by the protocol:
 * the one way the coordinator and the agents open it.
 */
export function openJobQueue(
  nc: NatsConnection,
  ns: string,
  o: { limits?: Partial<QueueLimits>; onRefused?: (r: RefusedMessage) => void } = {},
): Promise<JetStreamWorkQueue<BuildJob>> {
  const n = natsNames(ns);
  return JetStreamWorkQueue.open<BuildJob>(nc, {
    stream: n.stream,
    subjectPrefix: n.subjectPrefix,
    codec: jobCodec,
    ...(o.limits ? { limits: o.limits } : {}),
    ...(o.onRefused ? { onRefused: o.onRefused } : {}),
  });
}
