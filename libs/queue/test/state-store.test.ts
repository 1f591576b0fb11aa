import type { NatsConnection } from '@nats-io/transport-node';
import { connectAsCoordinator } from './nats-connect.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  KeyExistsError,
  MemoryStateStore,
  NatsStateStore,
  RevisionMismatchError,
  StateRecordError,
  type StateStore,
} from '@melange2/queue';
import { decodeKey, encodeKey, modify } from '@melange2/queue/internal';

let nc: NatsConnection;
beforeAll(async () => {
  nc = await connectAsCoordinator();
});
afterAll(async () => {
  await nc?.close();
});

/** What these tests store: `{ n, state? }`, checked on the way back as the store requires. */
function decodeCounter(v: unknown): { n: number; state?: string } {
  const r = v as { n?: unknown; state?: unknown };
  if (typeof r?.n !== 'number') throw new Error('n is not a number');
  return typeof r.state === 'string' ? { n: r.n, state: r.state } : { n: r.n };
}

let n = 0;
const stores: Record<string, () => Promise<StateStore<{ n: number; state?: string }>>> = {
  memory: async () => new MemoryStateStore(),
  'nats kv (real nats-server)': async () =>
    NatsStateStore.open(nc, `t_${process.pid}_${++n}_${Date.now()}`, { decode: decodeCounter }),
};

describe('keys', () => {
  it('encodes package names that NATS KV would refuse, reversibly', () => {
    for (const k of ['pkg.libstdc++@x86_64', 'py3-ruamel.yaml', 'R-foo:bar', 'ünïcode']) {
      expect(encodeKey(k)).toMatch(/^[-/_=.a-zA-Z0-9]+$/);
      expect(decodeKey(encodeKey(k))).toBe(k);
    }
  });
});

for (const [name, open] of Object.entries(stores)) {
  describe(`state store: ${name}`, () => {
    it('putNoWait writes without an answer; the record is there soon after', async () => {
      const s = await open();
      s.putNoWait('build.x86_64.libstdc++', { n: 7 });
      await vi.waitFor(async () => expect((await s.get('build.x86_64.libstdc++'))?.value).toEqual({ n: 7 }));
    });

    it('gets what was put, with increasing revisions; lists keys by prefix', async () => {
      const s = await open();
      const r1 = await s.put('pkg.gcc@x86_64', { n: 1, state: 'running' });
      const r2 = await s.put('pkg.libstdc++@x86_64', { n: 2 });
      expect(r2).toBeGreaterThan(r1);
      expect(await s.get('pkg.gcc@x86_64')).toEqual({
        key: 'pkg.gcc@x86_64',
        value: { n: 1, state: 'running' },
        revision: r1,
      });
      expect(await s.keys('pkg.')).toEqual(['pkg.gcc@x86_64', 'pkg.libstdc++@x86_64']);
      // Other keys: not listed under the prefix (whole tokens, or any other prefix).
      await s.put('pkgs.other', { n: 3 });
      await s.put('run', { n: 4 });
      expect(await s.keys('pkg.')).toEqual(['pkg.gcc@x86_64', 'pkg.libstdc++@x86_64']);
      expect(await s.keys('pk')).toEqual(['pkg.gcc@x86_64', 'pkg.libstdc++@x86_64', 'pkgs.other']);
      expect(await s.keys('nothing.')).toEqual([]);
      expect(await s.keys()).toEqual(['pkg.gcc@x86_64', 'pkg.libstdc++@x86_64', 'pkgs.other', 'run']);
      await s.delete('pkgs.other');
      await s.delete('run');
      await s.delete('pkg.gcc@x86_64');
      expect(await s.get('pkg.gcc@x86_64')).toBeUndefined();
      expect(await s.keys('pkg.')).toEqual(['pkg.libstdc++@x86_64']);
    });

    it('create refuses an existing key; update refuses a stale revision', async () => {
      const s = await open();
      const r = await s.create('lease.x86_64', { n: 1 });
      await expect(s.create('lease.x86_64', { n: 2 })).rejects.toBeInstanceOf(KeyExistsError);
      const r2 = await s.update('lease.x86_64', { n: 3 }, r);
      await expect(s.update('lease.x86_64', { n: 4 }, r)).rejects.toBeInstanceOf(RevisionMismatchError);
      expect((await s.get('lease.x86_64'))?.revision).toBe(r2);
    });

    it('modify() loses no write among 20 concurrent writers', async () => {
      const s = await open();
      await Promise.all(
        Array.from({ length: 20 }, () => modify(s, 'counter', (c) => ({ n: (c?.n ?? 0) + 1 }))),
      );
      expect((await s.get('counter'))?.value.n).toBe(20);
    });
  });
}

describe('state store under contention (real nats-server)', () => {
  it('an exclusive create racing with deletes only ever fails with KeyExistsError', async () => {
    const s = await NatsStateStore.open(nc, `t_lock_${process.pid}_${Date.now()}`, { decode: decodeCounter });
    try {
      // Eight contenders take and release one lock key 10 times each, as index writers do.
      let held = 0;
      let maxHeld = 0;
      await Promise.all(
        Array.from({ length: 8 }, async (_, who) => {
          for (let i = 0; i < 10; ) {
            try {
              await s.create('lock', { n: who });
            } catch (e) {
              expect(e).toBeInstanceOf(KeyExistsError);
              await new Promise((r) => setTimeout(r, 1));
              continue;
            }
            maxHeld = Math.max(maxHeld, ++held);
            await new Promise((r) => setTimeout(r, 2));
            held--;
            await s.delete('lock');
            i++;
          }
        }),
      );
      expect(maxHeld).toBe(1);
    } finally {
      await s.kv.destroy();
    }
  });
});

describe('a record that does not read back (real nats-server)', () => {
  it('is a StateRecordError naming the bucket and key, not data of the wrong shape', async () => {
    const bucket = `t_bad_${process.pid}_${Date.now()}`;
    const s = await NatsStateStore.open(nc, bucket, { decode: decodeCounter });
    try {
      await s.kv.put('wrong', '{"n":"one"}');
      await s.kv.put('garbled', '{"n":');
      await expect(s.get('wrong')).rejects.toMatchObject({
        name: 'StateRecordError',
        code: 'state-malformed',
        message: `${bucket}: "wrong" is not a record this build reads: n is not a number`,
      });
      await expect(s.get('garbled')).rejects.toBeInstanceOf(StateRecordError);
    } finally {
      await s.kv.destroy();
    }
  });
});

describe('a bucket with a max age (real nats-server)', () => {
  it('a bucket made without one gets it when opened with one; a record not written again ages out', async () => {
    const bucket = `t_age_${process.pid}_${Date.now()}`;
    const before = await NatsStateStore.open(nc, bucket, { decode: decodeCounter });
    try {
      expect((await before.kv.status()).ttl).toBe(0);
      const s = await NatsStateStore.open(nc, bucket, { decode: decodeCounter, maxAgeMs: 1000 });
      expect((await s.kv.status()).ttl).toBe(1000);
      await s.put('old', { n: 1 });
      // Removed by the server once a second old (polled, bounded).
      for (let i = 0; (await s.get('old')) !== undefined; i++) {
        if (i > 200) throw new Error('the record did not age out');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await s.keys()).toEqual([]);
    } finally {
      await before.kv.destroy();
    }
  });
});
