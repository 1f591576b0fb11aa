import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectAsCoordinator } from './nats-connect.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type DeadLetter,
  deadLetterStream,
  JetStreamWorkQueue,
  MemoryWorkQueue,
  type QueueLimits,
  type WorkQueue,
} from '@melange2/queue';

interface Job {
  readonly pkg: string;
  readonly attempt?: number;
}

let nc: NatsConnection;
beforeAll(async () => {
  nc = await connectAsCoordinator();
});
afterAll(async () => {
  await nc?.close();
});

let n = 0;
const transports: Record<string, (limits: Partial<QueueLimits>) => Promise<WorkQueue<Job>>> = {
  memory: async (limits) => new MemoryWorkQueue<Job>(limits),
  'jetstream (real nats-server)': async (limits) => {
    const id = `T${process.pid}_${++n}_${Date.now()}`;
    return JetStreamWorkQueue.open<Job>(nc, { stream: id, subjectPrefix: `t.${id}`, limits });
  },
};

/** The queue as a restarted producer opens it again (in-process, the queue outlives no process: itself). */
async function reopen(q: WorkQueue<Job>, limits: Partial<QueueLimits>): Promise<WorkQueue<Job>> {
  if (!(q instanceof JetStreamWorkQueue)) return q;
  return JetStreamWorkQueue.open<Job>(nc, { stream: q.stream, subjectPrefix: q.subjectPrefix, limits });
}

async function cleanup(q: WorkQueue<Job>) {
  if (q instanceof JetStreamWorkQueue) await q.destroy();
  else await q.close();
}

for (const [name, open] of Object.entries(transports)) {
  describe(`work queue: ${name}`, () => {
    it('ackNoWait removes the message without an answer: it is not delivered again', async () => {
      const q = await open({ ackWaitMs: 1000 });
      try {
        await q.publish('x86_64', { pkg: 'a' }, { msgId: 'a@x86_64' });
        const c = await q.consumer('x86_64');
        (await c.next({ expiresMs: 2000 }))?.ackNoWait();
        await vi.waitFor(async () => expect(await q.stored({ max: 10 })).toEqual([]));
        // Past the lease: nothing comes back.
        expect(await c.next({ expiresMs: 1500 })).toBeNull();
      } finally {
        await cleanup(q);
      }
    });

    it('stored: what is published and not acked or terminated (waiting, leased, given back), oldest first', async () => {
      const q = await open({});
      try {
        expect(await q.stored({ max: 10 })).toEqual([]);
        for (const pkg of ['a', 'b', 'c', 'd'])
          await q.publish('x86_64', { pkg }, { msgId: `${pkg}@x86_64` });
        await q.publish('aarch64', { pkg: 'e' }, { msgId: 'e@aarch64' });
        const c = await q.consumer('x86_64');
        const [a, b, cc] = [await c.next(), await c.next(), await c.next()];
        await a?.ack();
        b?.term();
        cc?.nak(60_000);
        const d = await c.next({ expiresMs: 2000 });
        expect(d?.data.pkg).toBe('d');
        // Terminations and naks travel without an answer: wait until the queue has them.
        await vi.waitFor(async () => expect((await q.stored({ max: 10 })).length).toBe(3));
        const s = await q.stored({ max: 10 });
        expect(s.map((m) => [m.arch, m.msgId, m.data.pkg])).toEqual([
          ['x86_64', 'c@x86_64', 'c'],
          ['x86_64', 'd@x86_64', 'd'],
          ['aarch64', 'e@aarch64', 'e'],
        ]);
        expect(s[0]!.seq).toBeLessThan(s[1]!.seq);
        await expect(q.stored({ max: 2 })).rejects.toThrow(/more than the 2 asked for/);
      } finally {
        await cleanup(q);
      }
    });

    it('delivers per arch in publish order, each message once, with its headers', async () => {
      const q = await open({});
      try {
        await q.publish(
          'x86_64',
          { pkg: 'busybox' },
          { msgId: 'busybox@x86_64', headers: { traceparent: '00-abc-def-01' } },
        );
        await q.publish('aarch64', { pkg: 'busybox' }, { msgId: 'busybox@aarch64' });
        await q.publish('x86_64', { pkg: 'zlib' }, { msgId: 'zlib@x86_64' });
        const c = await q.consumer('x86_64');
        const a = await c.next({ expiresMs: 2000 });
        expect(a?.data).toEqual({ pkg: 'busybox' });
        expect(a?.msgId).toBe('busybox@x86_64');
        expect(a?.headers['traceparent']).toBe('00-abc-def-01');
        expect(a?.deliveryCount).toBe(1);
        await a?.ack();
        const b = await c.next({ expiresMs: 2000 });
        expect(b?.data.pkg).toBe('zlib');
        await b?.ack();
        expect(await c.next({ expiresMs: 1000 })).toBeNull();
        expect(await q.depth('aarch64')).toEqual({ pending: 1, leased: 0 });
      } finally {
        await cleanup(q);
      }
    });

    it('drops a republish with the same message id', async () => {
      const q = await open({});
      try {
        const first = await q.publish('x86_64', { pkg: 'a' }, { msgId: 'a@x86_64@h1' });
        const again = await q.publish('x86_64', { pkg: 'a' }, { msgId: 'a@x86_64@h1' });
        expect(first.duplicate).toBe(false);
        expect(again).toEqual({ seq: first.seq, duplicate: true });
        expect((await q.depth('x86_64')).pending).toBe(1);
      } finally {
        await cleanup(q);
      }
    });

    it('redelivers after nak, counting deliveries', async () => {
      const q = await open({});
      try {
        await q.publish('x86_64', { pkg: 'a' }, { msgId: 'a' });
        const c = await q.consumer('x86_64');
        const d1 = await c.next({ expiresMs: 2000 });
        d1?.nak(200);
        const d2 = await c.next({ expiresMs: 3000 });
        expect(d2?.data.pkg).toBe('a');
        expect(d2?.deliveryCount).toBe(2);
        await d2?.ack();
      } finally {
        await cleanup(q);
      }
    });

    it('keeps a lease alive with working(), and redelivers once it lapses', async () => {
      const q = await open({ ackWaitMs: 1500 });
      try {
        await q.publish('x86_64', { pkg: 'slow' }, { msgId: 'slow' });
        const c = await q.consumer('x86_64');
        const d = await c.next({ expiresMs: 2000 });
        expect(d).not.toBeNull();
        // 3 s of heartbeats, twice the ack wait: nobody else gets it meanwhile.
        for (let i = 0; i < 6; i++) {
          await new Promise((r) => setTimeout(r, 500));
          d?.working();
        }
        expect(await c.next({ expiresMs: 1000 })).toBeNull();
        // Heartbeats stop (an agent died): the message comes back.
        const again = await c.next({ expiresMs: 5000 });
        expect(again?.data.pkg).toBe('slow');
        expect(again?.deliveryCount).toBe(2);
        await again?.ack();
      } finally {
        await cleanup(q);
      }
    });

    it('never redelivers a termed message', async () => {
      const q = await open({});
      try {
        await q.publish('x86_64', { pkg: 'bad' }, { msgId: 'bad' });
        const c = await q.consumer('x86_64');
        (await c.next({ expiresMs: 2000 }))?.term('build failed');
        expect(await c.next({ expiresMs: 1500 })).toBeNull();
        // Gone for good, not merely leased until its lease runs out (a `+TERM` with a reason
        // is ignored by nats-server 2.9).
        let depth = await q.depth('x86_64');
        for (let i = 0; i < 100 && depth.leased > 0; i++) depth = await q.depth('x86_64');
        expect(depth).toEqual({ pending: 0, leased: 0 });
      } finally {
        await cleanup(q);
      }
    });

    it('reports a message that ran out of deliveries as dead, once', async () => {
      const q = await open({ maxDeliver: 2 });
      try {
        const dead: DeadLetter[] = [];
        // Subscribed before the publish below: one connection keeps its order at the server.
        q.onDead((d) => dead.push(d));
        await q.publish('aarch64', { pkg: 'flaky' }, { msgId: 'flaky@aarch64' });
        const c = await q.consumer('aarch64');
        (await c.next({ expiresMs: 2000 }))?.nak();
        (await c.next({ expiresMs: 2000 }))?.nak();
        expect(await c.next({ expiresMs: 1500 })).toBeNull();
        await vi.waitFor(() => expect(dead).not.toEqual([]), { timeout: 4000 });
        expect(dead).toEqual([
          expect.objectContaining({ arch: 'aarch64', msgId: 'flaky@aarch64', deliveries: 2 }),
        ]);
        expect(await q.depth('aarch64')).toEqual({ pending: 0, leased: 0 });
      } finally {
        await cleanup(q);
      }
    });

    it('a message that died while no handler listened (its producer down) stays stored, and the next handler is told', async () => {
      const q = await open({ maxDeliver: 2 });
      let again: WorkQueue<Job> | undefined;
      try {
        await q.publish('x86_64', { pkg: 'orphan' }, { msgId: 'orphan@x86_64' });
        const c = await q.consumer('x86_64');
        (await c.next({ expiresMs: 2000 }))?.nak();
        (await c.next({ expiresMs: 2000 }))?.nak();
        expect(await c.next({ expiresMs: 1500 })).toBeNull();
        // Dead, and nobody told: still stored, so a restarted producer resumes it...
        expect((await q.stored({ max: 10 })).map((m) => m.msgId)).toEqual(['orphan@x86_64']);
        // ...and learns it is dead once it listens.
        again = await reopen(q, { maxDeliver: 2 });
        const dead: DeadLetter[] = [];
        again.onDead((d) => dead.push(d));
        await vi.waitFor(() => expect(dead).not.toEqual([]), { timeout: 10_000 });
        expect(dead).toEqual([
          expect.objectContaining({ arch: 'x86_64', msgId: 'orphan@x86_64', deliveries: 2 }),
        ]);
        const stored = again;
        await vi.waitFor(async () => expect(await stored.stored({ max: 10 })).toEqual([]));
      } finally {
        if (again && again !== q) await again.close();
        await cleanup(q);
      }
    });

    it('shares one arch among many consumers: 40 messages, 4 agents, each delivered exactly once', async () => {
      const q = await open({});
      try {
        for (let i = 0; i < 40; i++) await q.publish('x86_64', { pkg: `p${i}` }, { msgId: `p${i}` });
        const got: string[] = [];
        await Promise.all(
          [0, 1, 2, 3].map(async () => {
            const c = await q.consumer('x86_64');
            for (;;) {
              const d = await c.next({ expiresMs: 1000 });
              if (!d) return;
              got.push(d.data.pkg);
              await d.ack();
            }
          }),
        );
        expect(got.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `p${i}`).sort());
      } finally {
        await cleanup(q);
      }
    });

    it('counts the pulls waiting on an arch (idle agent slots)', async () => {
      const q = await open({});
      try {
        expect(await q.idle('x86_64')).toBe(0);
        const c = await q.consumer('x86_64');
        const ac = new AbortController();
        const waits = [
          c.next({ expiresMs: 30_000, signal: ac.signal }),
          c.next({ expiresMs: 30_000, signal: ac.signal }),
        ];
        // The server counts a pull once it has it: asked until it does (bounded).
        let idle = 0;
        for (let i = 0; i < 200 && idle < 2; i++) {
          idle = await q.idle('x86_64');
          if (idle < 2) await new Promise((r) => setTimeout(r, 10));
        }
        expect(idle).toBe(2);
        expect(await q.idle('aarch64')).toBe(0);
        ac.abort();
        await Promise.all(waits);
      } finally {
        await cleanup(q);
      }
    });

    it('a message that reaches a pull given up goes back to the queue for the next pull', async () => {
      const q = await open({});
      try {
        const c = await q.consumer('x86_64');
        const ac = new AbortController();
        const given = c.next({ expiresMs: 30_000, signal: ac.signal });
        // The server holds the pull (counted as idle) before it is given up.
        for (let i = 0; i < 200 && (await q.idle('x86_64')) < 1; i++)
          await new Promise((r) => setTimeout(r, 10));
        ac.abort();
        expect(await given).toBeNull();
        await q.publish('x86_64', { pkg: 'a' }, { msgId: 'a@x86_64' });
        const d = await c.next({ expiresMs: 5000 });
        expect(d?.data).toEqual({ pkg: 'a' });
        d?.ackNoWait();
      } finally {
        await cleanup(q);
      }
    });

    it('returns null at once for an aborted wait', async () => {
      const q = await open({});
      try {
        const c = await q.consumer('x86_64');
        const ac = new AbortController();
        const p = c.next({ expiresMs: 30_000, signal: ac.signal });
        setTimeout(() => ac.abort(), 50);
        expect(await p).toBeNull();
      } finally {
        await cleanup(q);
      }
    });
  });
}

describe('dead letters on JetStream (real nats-server)', () => {
  it('a dead letter of a stream since made again is not told for the new message under its sequence', async () => {
    const id = `T${process.pid}_${++n}_${Date.now()}`;
    const o = { stream: id, subjectPrefix: `t.${id}`, limits: { maxDeliver: 1 } };
    const first = await JetStreamWorkQueue.open<Job>(nc, o);
    const jsm = await jetstreamManager(nc);
    const deadCount = async () => (await jsm.streams.info(deadLetterStream(id))).state.messages;
    let again: JetStreamWorkQueue<Job> | undefined;
    try {
      await first.publish('x86_64', { pkg: 'old' }, { msgId: 'old' });
      const c = await first.consumer('x86_64');
      (await c.next({ expiresMs: 2000 }))?.nak();
      expect(await c.next({ expiresMs: 1500 })).toBeNull();
      await vi.waitFor(async () => expect(await deadCount()).toBe(1));
      // The work stream alone is removed and made again: its sequences start over.
      await jsm.streams.delete(id);
      again = await JetStreamWorkQueue.open<Job>(nc, o);
      const fresh = await again.publish('x86_64', { pkg: 'new' }, { msgId: 'new' });
      expect(fresh.seq).toBe(1);
      const dead: DeadLetter[] = [];
      again.onDead((d) => dead.push(d));
      // The advisory is taken (acked) without telling anyone, and the new message stays.
      await vi.waitFor(async () => expect(await deadCount()).toBe(0), { timeout: 10_000 });
      expect(dead).toEqual([]);
      expect((await again.stored({ max: 10 })).map((m) => m.data.pkg)).toEqual(['new']);
    } finally {
      await again?.close();
      await first.destroy();
    }
  });
});
