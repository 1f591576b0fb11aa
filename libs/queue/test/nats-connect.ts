import { connectNats, natsFileOptions } from '@melange2/queue';
import type { NatsConnection } from '@nats-io/transport-node';
import { inject } from 'vitest';

/**
 * Connects to the test run's nats-server as the coordinator role: over TLS with its nkey when the
 * server is locked down (`daemons up`), plainly otherwise.
 */
export function connectAsCoordinator(): Promise<NatsConnection> {
  return connectNats(natsFileOptions(inject('daemons').nats));
}
