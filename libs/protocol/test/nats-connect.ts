import { readFileSync } from 'node:fs';
import { connect, type NatsConnection, nkeyAuthenticator } from '@nats-io/transport-node';
import { inject } from 'vitest';

/**
 * Connects to the test run's nats-server as the coordinator role: over TLS with its nkey when the
 * server is locked down (`daemons up`), plainly otherwise. (The test harness has the same for
 * apps; a library's tests may not import it.)
 */
export function connectAsCoordinator(): Promise<NatsConnection> {
  const { url, tlsCa, nkey } = inject('daemons').nats;
  const seed = nkey ? new TextEncoder().encode(readFileSync(nkey, 'utf8').trim()) : undefined;
  return connect({
    servers: url,
    ...(tlsCa ? { tls: { ca: readFileSync(tlsCa, 'utf8') } } : {}),
    ...(seed ? { authenticator: nkeyAuthenticator(seed) } : {}),
  });
}
