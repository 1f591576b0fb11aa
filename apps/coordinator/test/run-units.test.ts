import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyExistsError, RevisionMismatchError } from '@melange2/queue';
import { describe, expect, it } from 'vitest';
import { FileStateStore } from '@melange2/coordinator';
import { AgentRegistry, DispatchTokens, providesChanged, tokenHash } from '@melange2/coordinator/internal';

const decodeN = (v: unknown) => {
  if (typeof (v as { n?: unknown })?.n !== 'number') throw new Error('n is not a number');
  return v as { n: number };
};

describe('FileStateStore', () => {
  it('compare-and-set like the KV bucket, and a new instance reads what was flushed', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'm2-state-')), 'state.json');
    const s = new FileStateStore(file, decodeN);
    const r1 = await s.create('build.x86_64.libstdc++', { n: 1 });
    await expect(s.create('build.x86_64.libstdc++', { n: 2 })).rejects.toBeInstanceOf(KeyExistsError);
    await s.update('build.x86_64.libstdc++', { n: 3 }, r1);
    await expect(s.update('build.x86_64.libstdc++', { n: 4 }, r1)).rejects.toBeInstanceOf(
      RevisionMismatchError,
    );
    s.flush();
    const again = new FileStateStore(file, decodeN);
    expect((await again.get('build.x86_64.libstdc++'))?.value).toEqual({ n: 3 });
    expect(await again.keys('build.')).toEqual(['build.x86_64.libstdc++']);
  });

  it('a file that is not a state file is an error naming it', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'm2-state-')), 'state.json');
    writeFileSync(file, 'not json');
    expect(() => new FileStateStore(file, decodeN)).toThrow(
      /state\.json: not a state file .*remove it to start afresh/,
    );
  });

  it('a record of the wrong shape is an error naming the file and the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'm2-state-'));
    try {
      const file = join(dir, 'state.json');
      writeFileSync(
        file,
        JSON.stringify({ revision: 1, entries: [['build.x', { value: { n: 'x' }, revision: 1 }]] }),
      );
      expect(() => new FileStateStore(file, decodeN)).toThrow(
        'state.json: not a state file (build.x: n is not a number); remove it to start afresh',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('early cutoff', () => {
  const e = (name: string, version: string, provides: string[]) => ({ name, version, provides });
  it('compares provided names (not versions) with the newest version published before', () => {
    const before = [e('libfoo', '1.0-r0', []), e('libfoo', '1.1-r0', ['so:libfoo.so.1=1', 'cmd:foo=1.1-r0'])];
    expect(providesChanged(before, [e('libfoo', '1.2-r0', ['cmd:foo=1.2-r0', 'so:libfoo.so.1=1'])])).toBe(
      false,
    );
    expect(providesChanged(before, [e('libfoo', '2.0-r0', ['so:libfoo.so.2=2', 'cmd:foo=2.0-r0'])])).toBe(
      true,
    );
    expect(providesChanged(before, [e('libfoo-dev', '1.2-r0', [])])).toBe(true);
  });
});

describe('dispatch tokens', () => {
  it('the token of the attempt in flight is taken once; any other is refused with its reason', () => {
    const t = new DispatchTokens();
    const token = t.issue('a@x86_64', 1);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenHash(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenHash(token)).not.toBe(token);
    const other = 'f'.repeat(64);
    expect(t.check('a@x86_64', 1, other)).toMatchObject({ ok: false, code: 'wrong-token' });
    expect(t.check('a@x86_64', 2, token)).toMatchObject({ ok: false, code: 'not-dispatched' });
    expect(t.check('b@x86_64', 1, token)).toMatchObject({ ok: false, code: 'not-dispatched' });
    expect(t.check('a@x86_64', 1, token)).toEqual({ ok: true });
    t.consume('a@x86_64', token);
    expect(t.check('a@x86_64', 1, token)).toMatchObject({ ok: false, code: 'replayed' });
  });

  it('a resumed attempt accepts the token of the coordinator it replaced (by its hash), and its own', () => {
    const before = new DispatchTokens().issue('a@x86_64', 3);
    const t = new DispatchTokens();
    const now = t.issue('a@x86_64', 3, [tokenHash(before)]);
    expect(t.check('a@x86_64', 3, before)).toEqual({ ok: true });
    expect(t.check('a@x86_64', 3, now)).toEqual({ ok: true });
    expect(t.check('a@x86_64', 3, 'f'.repeat(64))).toMatchObject({ ok: false, code: 'wrong-token' });
  });
});

describe('agent registry', () => {
  const beat = (agent: string, slots: number) => ({
    type: 'heartbeat' as const,
    agent,
    arch: 'x86_64',
    slots,
    busy: 0,
    alive: true,
  });

  it('counts the idle pulls seen on the queue as slots until heartbeats account for more or they time out', () => {
    const r = new AgentRegistry(10_000);
    expect(r.capacity('x86_64', 0)).toBe(0);
    r.idle('x86_64', 8, 0);
    expect(r.capacity('x86_64', 1)).toBe(8);
    expect(r.capacity('aarch64', 1)).toBe(0);
    // One agent of two has beaten: the idle count still stands.
    r.heartbeat(beat('a', 4), 2);
    expect(r.capacity('x86_64', 3)).toBe(8);
    r.heartbeat(beat('b', 4), 4);
    r.heartbeat(beat('c', 4), 4);
    expect(r.capacity('x86_64', 5)).toBe(12);
    // Gone for good: a later count below the heartbeats' does not lower it.
    r.heartbeat(beat('c', 4), 4);
    expect(r.capacity('x86_64', 6)).toBe(12);
    const q = new AgentRegistry(10_000);
    q.idle('x86_64', 8, 0);
    expect(q.capacity('x86_64', 10_001)).toBe(0);
  });

  it('counts the builds an agent pulls ahead of its slots as slots', () => {
    const r = new AgentRegistry(10_000);
    r.heartbeat(beat('a', 4), 0);
    r.heartbeat({ ...beat('b', 4), prefetch: 1 }, 0);
    expect(r.capacity('x86_64', 1)).toBe(9);
    r.heartbeat(beat('b', 4), 2);
    expect(r.capacity('x86_64', 3)).toBe(8);
  });
});
