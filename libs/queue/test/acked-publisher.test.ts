import { InboxRequests } from '@melange2/queue';
import { AckedPublisher, PublishRefusedError } from '@melange2/queue/internal';
import { jetstreamManager } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAsCoordinator } from './nats-connect.js';

let nc: NatsConnection;
const stream = `TACK${process.pid}_${Date.now()}`;
const subject = `tack.${process.pid}.${Date.now()}`;
beforeAll(async () => {
  nc = await connectAsCoordinator();
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
});
afterAll(async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(stream).catch(() => false);
  await nc?.close();
});

const msgId = (id: string) => {
  const h = headers();
  h.set('Nats-Msg-Id', id);
  return h;
};

describe('AckedPublisher (real nats-server)', () => {
  it('stores many publishes made side by side, in the order made, and says which were duplicates', async () => {
    const p = new AckedPublisher(nc);
    const acks = await Promise.all(
      Array.from({ length: 200 }, (_, i) => p.publish(`${subject}.a`, `m${i}`, msgId(`id-${i}`))),
    );
    expect(acks.every((a) => a.stream === stream && !a.duplicate)).toBe(true);
    const seqs = acks.map((a) => a.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(200);
    const again = await p.publish(`${subject}.a`, 'm0', msgId('id-0'));
    expect(again).toEqual({ stream, seq: acks[0]!.seq, duplicate: true });
    p.close();
  });

  it('rejects a publish no stream takes, and one the stream refuses, with the reason', async () => {
    const p = new AckedPublisher(nc);
    const none = await p.publish(`nostream.${subject}`, 'x').catch((e: unknown) => e);
    expect(none).toBeInstanceOf(PublishRefusedError);
    expect((none as PublishRefusedError).apiCode).toBe(503);
    const h = headers();
    h.set('Nats-Expected-Last-Subject-Sequence', '999999');
    const stale = await p.publish(`${subject}.b`, 'x', h).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(PublishRefusedError);
    expect((stale as Error).message).toMatch(/wrong last sequence/);
    // The publisher goes on after refusals.
    expect((await p.publish(`${subject}.b`, 'y')).stream).toBe(stream);
    p.close();
  });

  it('rejects a publish nobody acks once its time is up, and what is pending when closed', async () => {
    const silent = nc.subscribe(`silent.${subject}`);
    const p = new AckedPublisher(nc, { timeoutMs: 300 });
    const lost = await p.publish(`silent.${subject}`, 'x').catch((e: unknown) => e);
    expect((lost as Error).message).toMatch(/no ack within 300 ms/);
    const pending = p.publish(`${subject}.c`, 'z');
    p.close();
    await expect(pending).rejects.toThrow(/closed before the ack/);
    silent.unsubscribe();
  });
});

describe('InboxRequests (real nats-server)', () => {
  it('matches answers to requests made side by side; a subject nobody serves answers 503; a silent one times out', async () => {
    const served = `treq.${process.pid}.${Date.now()}`;
    const sub = nc.subscribe(`${served}.echo`, {
      callback: (_e, m) => {
        m.respond(`re:${m.string()}`);
      },
    });
    await nc.flush();
    const r = new InboxRequests(nc, { timeoutMs: 300, what: 'test' });
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => r.request(`${served}.echo`, `q${i}`).then((m) => m.string())),
    );
    expect(answers).toEqual(Array.from({ length: 50 }, (_, i) => `re:q${i}`));
    const none = await r.request(`${served}.nobody`, 'q');
    expect(none.headers?.code).toBe(503);
    const silent = nc.subscribe(`${served}.silent`, { callback: () => {} });
    await nc.flush();
    await expect(r.request(`${served}.silent`, 'q')).rejects.toThrow(/no answer within 300 ms/);
    sub.unsubscribe();
    silent.unsubscribe();
    r.close(() => 'closed');
  });
});
