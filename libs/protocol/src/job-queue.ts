import {
  type JetStreamQueueOptions,
  JetStreamWorkQueue,
  type QueueLimits,
  type RefusedMessage,
} from '@melange2/queue';
import type { NatsConnection } from '@nats-io/transport-node';
import { jobCodec } from './codec.js';
import type { BuildJob } from './messages.js';
import { natsNames } from './names.js';

interface QueueOpenOptions {
  readonly limits?: Partial<QueueLimits>;
  readonly onRefused?: (r: RefusedMessage) => void;
}

function queueOptions(ns: string, o: QueueOpenOptions): JetStreamQueueOptions<BuildJob> {
  const n = natsNames(ns);
  return {
    stream: n.stream,
    subjectPrefix: n.subjectPrefix,
    codec: jobCodec,
    ...(o.limits ? { limits: o.limits } : {}),
    ...(o.onRefused ? { onRefused: o.onRefused } : {}),
  };
}

/**
 * A namespace's work queue of builds on JetStream, every job encoded and checked by the protocol:
 * the one way the coordinator and the agents open it.
 */
export function openJobQueue(
  nc: NatsConnection,
  ns: string,
  o: QueueOpenOptions = {},
): Promise<JetStreamWorkQueue<BuildJob>> {
  return JetStreamWorkQueue.open<BuildJob>(nc, queueOptions(ns, o));
}

/**
 * The agents' side of the job queue: pulls from the arch's consumer the coordinator made, and
 * changes nothing on the server (an agent's NATS user may do no more: see `agentRole`).
 */
export function attachJobQueue(
  nc: NatsConnection,
  ns: string,
  o: QueueOpenOptions = {},
): Promise<JetStreamWorkQueue<BuildJob>> {
  return JetStreamWorkQueue.attach<BuildJob>(nc, queueOptions(ns, o));
}
