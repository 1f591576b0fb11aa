/**
 * Namespaces of a test file on the shared nats-server: fresh names, a connection as the
 * coordinator role, and everything the namespaces made removed after the tests.
 */
import { natsStreams } from '@melange2/protocol';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, inject } from 'vitest';
import { type NatsAccess, natsConnect } from './nats.ts';

/** Removes what namespace `ns` made on the server: its streams (work queue, KV buckets, object stores). */
export async function removeNamespace(nc: NatsConnection, ns: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (const s of natsStreams(ns)) await jsm.streams.delete(s).catch(() => false);
}

export interface TestNamespaces {
  /** The coordinator role's connection (from `beforeAll` on; closed after the tests). */
  readonly nc: NatsConnection;
  /** A namespace of its own, `<prefix><pid>x<n>x<time>` (another prefix for a test of its own): removed after the tests. */
  fresh(prefix?: string): string;
}

/**
 * NATS for the tests of a file or `describe` block: registers its own hooks, so call it at the
 * top of one. Before the tests it connects as the coordinator role (`access`, default the test
 * run's server); after them it removes every namespace `fresh` gave out, then closes.
 */
export function natsNamespaces(prefix: string, access?: NatsAccess): TestNamespaces {
  const a = access ?? inject('daemons').nats;
  const made: string[] = [];
  let nc: NatsConnection | undefined;
  beforeAll(async () => {
    nc = await natsConnect(a);
  });
  afterAll(async () => {
    if (!nc) return;
    for (const ns of made) await removeNamespace(nc, ns);
    await nc.close();
  });
  return {
    get nc(): NatsConnection {
      if (!nc) throw new Error('natsNamespaces: the connection is opened in beforeAll');
      return nc;
    },
    fresh(tag = prefix): string {
      const ns = `${tag}${process.pid}x${made.length}x${Date.now().toString(36)}`;
      made.push(ns);
      return ns;
    },
  };
}
