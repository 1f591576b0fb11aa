// Build logs in both stores: capped with a marker, checked against their digest, followed while
// written (a directory; JetStream on a real nats-server), pruned by run.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  type BuildLogStore,
  BuildLogWriter,
  LocalLogStore,
  type LogRef,
  ObjectLogStore,
  readLog,
  TRUNCATION_MARKER,
} from '@melange2/protocol';
import { namespaceForTests } from './nats-connect.js';
import { describe, expect, it } from 'vitest';

const ref = (runId: string, name: string): LogRef => ({
  runId,
  arch: 'x86_64',
  name,
  attempt: 1,
  agent: 'a',
  state: 'running',
  startedAt: Date.now(),
});

async function text(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of chunks) parts.push(Buffer.from(c));
  return Buffer.concat(parts).toString('utf8');
}

/** Writes a log through `store` the way an agent does; returns its text. */
async function writeLog(store: BuildLogStore, r: LogRef, lines: readonly string[], maxBytes?: number) {
  const w = await BuildLogWriter.open({ live: await store.begin(r), ...(maxBytes ? { maxBytes } : {}) });
  for (const l of lines) w.line(l);
  const f = await w.finish(['result: succeeded']);
  await store.finish({ ...r, state: 'succeeded', digest: f.digest, size: f.size, bytes: f.bytes }, f.file);
  await f.release();
  return f;
}

/** Follows a log while it is written a line at a time: what the follower read, and the whole. */
async function followWhileWriting(store: BuildLogStore, r: LogRef) {
  const w = await BuildLogWriter.open({ live: await store.begin(r) });
  w.line('line 0');
  const followed = text(readLog(store, r, { follow: true }));
  for (let i = 1; i <= 20; i++) {
    w.line(`line ${i}`);
    await new Promise((res) => setTimeout(res, 20));
  }
  const f = await w.finish(['result: succeeded']);
  await store.finish({ ...r, state: 'succeeded', digest: f.digest, size: f.size, bytes: f.bytes }, f.file);
  await f.release();
  return { followed: await followed, whole: await text(readLog(store, r)) };
}

describe('build logs in a directory', () => {
  const root = () => mkdtempSync(join(tmpdir(), 'm2-logstore-'));

  it('caps the text with a marker line and still writes the result', async () => {
    const store = new LocalLogStore(root());
    const lines = Array.from({ length: 2000 }, (_, i) => `output line ${i} ${'x'.repeat(40)}`);
    const f = await writeLog(store, ref('r1', 'big'), lines, 16 * 1024);
    const t = await text(readLog(store, ref('r1', 'big')));
    expect(t).toContain(TRUNCATION_MARKER);
    expect(t).toContain('output line 0 ');
    expect(t).not.toContain('output line 1999 ');
    expect(t).toMatch(/\d+ bytes of output dropped\n.* result: succeeded\n$/);
    expect(Buffer.byteLength(t)).toBe(f.bytes);
    expect(f.bytes).toBeLessThan(16 * 1024 + 512);
    expect(f.truncated).toBe(true);
  });

  it('refuses a blob that does not match its digest', async () => {
    const dir = root();
    const store = new LocalLogStore(dir);
    const f = await writeLog(store, ref('r1', 'p'), ['hello']);
    writeFileSync(join(dir, 'blobs', 'r1', `${f.digest}.log.gz`), gzipSync('forged\n'));
    await expect(text(readLog(store, ref('r1', 'p')))).rejects.toMatchObject({ code: 'log-corrupt' });
  });

  it('follows a running build from its first line to its result', async () => {
    const store = new LocalLogStore(root());
    const { followed, whole } = await followWhileWriting(store, ref('r1', 'live'));
    expect(followed).toBe(whole);
    expect(whole).toMatch(/line 0\n[\s\S]*line 20\n.*result: succeeded\n$/);
  });

  it('keeps the newest runs and removes the others', async () => {
    const dir = root();
    const store = new LocalLogStore(dir);
    for (const run of ['r1', 'r2', 'r3']) {
      await writeLog(store, ref(run, 'p'), [run]);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await store.runs()).map((r) => r.runId)).toEqual(['r3', 'r2', 'r1']);
    expect(await store.prune({ runs: 2 })).toEqual(['r1']);
    expect(readdirSync(join(dir, 'runs')).sort()).toEqual(['r2', 'r3']);
    expect(readdirSync(join(dir, 'blobs')).sort()).toEqual(['r2', 'r3']);
  });

  it('a build whose agent was lost: abandoned, its text so far is its log', async () => {
    const store = new LocalLogStore(root());
    const w = await BuildLogWriter.open({ live: await store.begin(ref('r1', 'lost')) });
    w.line('before the agent died');
    await new Promise((r) => setTimeout(r, 50));
    expect(await store.abandon('r1')).toEqual(['r1/x86_64/lost']);
    expect((await store.ref(ref('r1', 'lost')))?.state).toBe('cancelled');
    expect(await text(readLog(store, ref('r1', 'lost'), { follow: true }))).toMatch(
      /before the agent died\n$/,
    );
    await w.discard();
  });

  it('refuses names that could leave the directory', async () => {
    const store = new LocalLogStore(root());
    await expect(store.ref({ runId: '..', arch: 'x86_64', name: 'p' })).rejects.toMatchObject({
      code: 'log-bad-name',
    });
  });
});

describe('build logs in JetStream', () => {
  const nats = namespaceForTests('logs');
  const { ns } = nats;

  it('stores, follows (a package name with dots) and prunes', async () => {
    const store = await ObjectLogStore.open(nats.nc, ns);
    const { followed, whole } = await followWhileWriting(store, ref('r1', 'py3.12-foo'));
    expect(followed).toBe(whole);
    expect(whole).toMatch(/line 0\n[\s\S]*line 20\n.*result: succeeded\n$/);
    const big = await writeLog(store, ref('r2', 'big'), ['x'.repeat(300_000)], 64 * 1024);
    expect(big.truncated).toBe(true);
    expect(await text(readLog(store, ref('r2', 'big')))).toContain(TRUNCATION_MARKER);
    expect(await store.latest()).toBe('r2');
    expect((await store.list('r1')).map((r) => `${r.name}:${r.state}`)).toEqual(['py3.12-foo:succeeded']);
    expect(await store.prune({ runs: 1 })).toEqual(['r1']);
    expect(await store.ref(ref('r1', 'py3.12-foo'))).toBeUndefined();
    expect(await store.ref(ref('r2', 'big'))).toBeDefined();
  });

  it('abandons only the builds it is told may still be running', async () => {
    const store = await ObjectLogStore.open(nats.nc, ns);
    const lost = await BuildLogWriter.open({ live: await store.begin(ref('r3', 'lost')) });
    const other = await BuildLogWriter.open({ live: await store.begin(ref('r3', 'other')) });
    await writeLog(store, ref('r3', 'done'), ['ok']);
    const only = [
      { arch: 'x86_64', name: 'lost' },
      { arch: 'x86_64', name: 'done' },
      { arch: 'x86_64', name: 'never' },
    ];
    expect(await store.abandon('r3', only)).toEqual(['r3/x86_64/lost']);
    expect((await store.ref(ref('r3', 'lost')))?.state).toBe('cancelled');
    expect((await store.ref(ref('r3', 'other')))?.state).toBe('running');
    expect((await store.ref(ref('r3', 'done')))?.state).toBe('succeeded');
    expect(await store.abandon('r3')).toEqual(['r3/x86_64/other']);
    await lost.discard();
    await other.discard();
  });
});
