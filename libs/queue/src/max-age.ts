import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

/**
 * Sets a stream's `max_age` (a KV bucket's or object store's `ttl`) when it differs: buckets
 * made before an age was chosen get it too, since creating an existing bucket changes nothing.
 * Messages older than that are removed by the server (values, and delete markers alike).
 */
export async function ensureMaxAge(nc: NatsConnection, stream: string, maxAgeMs: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const want = maxAgeMs * 1_000_000;
  const info = await jsm.streams.info(stream);
  // The dedupe window may not outlast the messages.
  if (info.config.max_age !== want)
    await jsm.streams.update(stream, {
      max_age: want,
      duplicate_window: Math.min(info.config.duplicate_window, want),
    });
}
