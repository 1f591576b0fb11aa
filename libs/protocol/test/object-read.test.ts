import { readObject } from '@melange2/protocol';
import { jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsCoordinator } from './nats-connect.js';

describe('readObject (a small object replaced while it is read)', () => {
  let nc: NatsConnection;
  const bucket = `objread${process.pid}x${Date.now().toString(36)}`;
  beforeAll(async () => {
    nc = await connectAsCoordinator();
  });
  afterAll(async () => {
    await (await jetstreamManager(nc)).streams.delete(`OBJ_${bucket}`).catch(() => false);
    await nc.close();
  });

  it('every read ends with one of the versions written, or none before the first', async () => {
    const os = await new Objm(nc).create(bucket);
    const version = (i: number) => new TextEncoder().encode(`{"version":${i},"pad":"${'x'.repeat(300)}"}`);
    expect(await readObject(os, 'ref')).toBeNull();
    await os.putBlob({ name: 'ref' }, version(0));
    const written = new Set([new TextDecoder().decode(version(0))]);
    let writing = true;
    const writer = (async () => {
      for (let i = 1; i <= 60; i++) {
        written.add(new TextDecoder().decode(version(i)));
        await os.putBlob({ name: 'ref' }, version(i));
      }
      writing = false;
    })();
    const reads: string[] = [];
    while (writing) {
      const got = await readObject(os, 'ref', { timeoutMs: 1000, tries: 10 });
      reads.push(new TextDecoder().decode(got!));
    }
    await writer;
    expect(reads.length).toBeGreaterThan(0);
    for (const r of reads) expect(written.has(r)).toBe(true);
  });
});
