import { natsStreams } from '@melange2/protocol';
import { connectNats, natsFileOptions } from '@melange2/queue';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, inject } from 'vitest';

/**
 * Connects to the test run's nats-server as the coordinator role: over TLS with its nkey when the
 * server is locked down (`daemons up`), plainly otherwise.
 */
export function connectAsCoordinator(): Promise<NatsConnection> {
  return connectNats(natsFileOptions(inject('daemons').nats));
}

/**
 * A namespace of the tests of a file or `describe` block (`<prefix><pid>x<time>`) and the
 * coordinator's connection (from `beforeAll` on): the namespace's streams are removed after the
 * tests, then the connection is closed. Registers its own hooks.
 */
export function namespaceForTests(prefix: string): { readonly ns: string; readonly nc: NatsConnection } {
  const ns = `${prefix}${process.pid}x${Date.now().toString(36)}`;
  let nc: NatsConnection | undefined;
  beforeAll(async () => {
    nc = await connectAsCoordinator();
  });
  afterAll(async () => {
    if (!nc) return;
    const jsm = await jetstreamManager(nc);
    for (const s of natsStreams(ns)) await jsm.streams.delete(s).catch(() => false);
    await nc.close();
  });
  return {
    ns,
    get nc(): NatsConnection {
      if (!nc) throw new Error('namespaceForTests: the connection is opened in beforeAll');
      return nc;
    },
  };
}
