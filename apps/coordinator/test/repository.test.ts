import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  Keyring,
  loadRepository,
  packApk,
  readIndexArchive,
  resolveWorld,
  type SigningKey,
  signingKeyFromPem,
  generateKeyPair,
  fetchBytes,
  verifyApk,
} from '@melange2/apk';
import { MemoryStateStore, NatsStateStore, type StateStore } from '@melange2/queue';
import { natsConnect } from '@melange2/test/harness';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  IndexPublisher,
  LocalRepositoryStore,
  ObjectRepositoryStore,
  type PublisherRecord,
} from '@melange2/coordinator';
import {
  decodePublisherRecord,
  RepositoryError,
  type RepositoryStore,
  serveRepository,
} from '@melange2/coordinator/internal';

let dir: string;
let key: SigningKey;
let keyring: Keyring;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'm2-repo-'));
  const pair = await generateKeyPair(2048);
  key = signingKeyFromPem(pair.privatePem, 'test.rsa.pub');
  keyring = new Keyring().add('test.rsa.pub', pair.publicPem);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let seq = 0;
/** A small signed package, as an agent would have built it. */
async function apk(
  name: string,
  arch = 'x86_64',
  o: { depends?: string[]; version?: string; marker?: string } = {},
) {
  const src = join(dir, `src-${++seq}`);
  mkdirSync(join(src, 'usr/share', name), { recursive: true });
  writeFileSync(join(src, 'usr/share', name, 'marker'), o.marker ?? `${name} ${seq}\n`);
  const output = join(dir, `out-${seq}`, `${name}.apk`);
  mkdirSync(join(output, '..'), { recursive: true });
  await packApk({
    dir: src,
    info: {
      name,
      version: o.version ?? '1.0-r0',
      arch,
      size: 0,
      origin: name,
      depends: o.depends ?? [],
      provides: [],
      replaces: [],
      installIf: [],
      triggers: [],
    },
    signingKey: key,
    sourceDateEpoch: 0,
    output,
  });
  return output;
}

function publisher(
  store: RepositoryStore,
  records: StateStore<PublisherRecord> = new MemoryStateStore<PublisherRecord>(),
) {
  return new IndexPublisher({ store, signingKey: key, keyring, records, description: 'test' });
}

describe('index publisher (local directory)', () => {
  it('loses no entry when 30 agents publish at once, and coalesces the index writes', async () => {
    const store = new LocalRepositoryStore(join(dir, 'repo-a'));
    const pub = publisher(store);
    const apks = await Promise.all(Array.from({ length: 30 }, (_, i) => apk(`pkg${i}`)));
    const results = await Promise.all(apks.map((p) => pub.publish({ arch: 'x86_64', apks: [p] })));
    const idx = readIndexArchive((await store.readIndex('x86_64'))!, 'index', { keyring });
    expect(idx.signedBy).toBe('test.rsa.pub');
    expect(idx.index.entries.map((e) => e.name).sort()).toEqual(apks.map((_, i) => `pkg${i}`).sort());
    const last = Math.max(...results.map((r) => r.revision));
    expect(last).toBeLessThan(30);
    expect((await pub.current('x86_64')).record).toMatchObject({
      kind: 'index',
      revision: last,
      entries: 30,
    });
    expect(await store.list('x86_64')).toContain('pkg7-1.0-r0.apk');
    expect(await store.list('x86_64')).not.toContain(expect.stringContaining('.tmp-'));
  });

  it('republishing the same package is a no-op; other bytes under a published name are refused', async () => {
    const store = new LocalRepositoryStore(join(dir, 'repo-b'));
    const pub = publisher(store);
    const a = await apk('same');
    await pub.publish({ arch: 'x86_64', apks: [a] });
    await pub.publish({ arch: 'x86_64', apks: [a] });
    expect(readIndexArchive((await store.readIndex('x86_64'))!, 'i').index.entries).toHaveLength(1);
    const other = await apk('same', 'x86_64', { marker: 'different\n' });
    await expect(pub.publish({ arch: 'x86_64', apks: [other] })).rejects.toThrow(RepositoryError);
    await expect(pub.publish({ arch: 'x86_64', apks: [other] })).rejects.toThrow(/never overwritten/);
  });

  it('key rotation: a publisher with a new key signs the index again; older packages keep the old key', async () => {
    const store = new LocalRepositoryStore(join(dir, 'repo-rotate'));
    const old = publisher(store);
    const first = await apk('before-rotation');
    await old.publish({ arch: 'x86_64', apks: [first] });
    expect(await old.resignIndex('x86_64')).toBe(false);
    const pair = await generateKeyPair(2048);
    const newKey = signingKeyFromPem(pair.privatePem, 'new.rsa.pub');
    const newKeyring = new Keyring().add('new.rsa.pub', pair.publicPem);
    const rotated = new IndexPublisher({
      store,
      signingKey: newKey,
      keyring: newKeyring,
      records: new MemoryStateStore<PublisherRecord>(),
    });
    expect(await rotated.resignIndex('x86_64')).toBe(true);
    expect(await rotated.resignIndex('x86_64')).toBe(false);
    const bytes = (await store.readIndex('x86_64'))!;
    const idx = readIndexArchive(bytes, 'index', { keyring: newKeyring });
    expect(idx.signedBy).toBe('new.rsa.pub');
    expect(() => readIndexArchive(bytes, 'index', { keyring })).toThrow(/UNTRUSTED/);
    expect(idx.index.entries.map((e) => e.name)).toEqual(['before-rotation']);
    // The package published before is still signed by the old key: both keys verify the repository.
    const both = new Keyring()
      .add('test.rsa.pub', keyring.keys.get('test.rsa.pub')!.pem)
      .add('new.rsa.pub', pair.publicPem);
    const path = join(store.root, 'x86_64', 'before-rotation-1.0-r0.apk');
    expect((await verifyApk(path, { keyring: both })).signedBy).toBe('test.rsa.pub');
  });

  it('refuses a package for another arch, and a path that escapes the repository', async () => {
    const store = new LocalRepositoryStore(join(dir, 'repo-c'));
    const pub = publisher(store);
    await expect(pub.publish({ arch: 'x86_64', apks: [await apk('arm', 'aarch64')] })).rejects.toThrow(
      /built for aarch64, published to x86_64/,
    );
    await expect(store.putApk('x86_64', '../evil.apk', '/etc/passwd')).rejects.toThrow(
      /not a valid file name/,
    );
  });

  it('refuses a staged package whose control member is a gzip bomb, by its limit, and keeps the index', async () => {
    const store = new LocalRepositoryStore(join(dir, 'repo-bomb'));
    const pub = publisher(store);
    await pub.publish({ arch: 'x86_64', apks: [await apk('good')] });
    const before = await store.readIndex('x86_64');
    // An unsigned package whose control member inflates to 8 MiB (8 KiB compressed): over the
    // 4 MiB control limit, which libs/apk checks while inflating.
    const bomb = join(dir, 'bomb.apk');
    writeFileSync(bomb, gzipSync(Buffer.concat([Buffer.from('.PKGINFO'), Buffer.alloc(8 << 20)])));
    await expect(pub.publish({ arch: 'x86_64', apks: [bomb] })).rejects.toMatchObject({
      code: 'limit-control',
      message: expect.stringContaining('bomb.apk: control member: over the 4 MiB limit'),
    });
    expect(await store.readIndex('x86_64')).toEqual(before);
    expect(await store.list('x86_64')).not.toContain(expect.stringContaining('bomb'));
  });

  it('two publishers (two coordinators) writing at once lose nothing', async () => {
    const store = new LocalRepositoryStore(join(dir, 'repo-d'));
    const records = new MemoryStateStore<PublisherRecord>();
    const one = publisher(store, records);
    const two = publisher(store, records);
    const apks = await Promise.all(Array.from({ length: 20 }, (_, i) => apk(`race${i}`)));
    await Promise.all(apks.map((p, i) => (i % 2 ? one : two).publish({ arch: 'x86_64', apks: [p] })));
    const names = readIndexArchive((await store.readIndex('x86_64'))!, 'i').index.entries.map((e) => e.name);
    expect(names.sort()).toEqual(apks.map((_, i) => `race${i}`).sort());
    expect(await records.get('lock.x86_64')).toBeUndefined();
  });

  it('takes over the lease of a writer that died holding it, once it expired', async () => {
    const store = new LocalRepositoryStore(join(dir, 'repo-e'));
    const records = new MemoryStateStore<PublisherRecord>();
    await records.create('lock.x86_64', { kind: 'lock', holder: 'dead-coordinator', until: Date.now() - 1 });
    await publisher(store, records).publish({ arch: 'x86_64', apks: [await apk('after-crash')] });
    expect(
      readIndexArchive((await store.readIndex('x86_64'))!, 'i').index.entries.map((e) => e.name),
    ).toEqual(['after-crash']);
  });
});

describe('repository on the JetStream object store, served over HTTP (real nats-server)', () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await natsConnect(inject('daemons').nats);
  });
  afterAll(async () => {
    await nc?.close();
  });

  it('publishes, serves an apk repository that libs/apk resolves and fetches from', async () => {
    const bucket = `repo_${process.pid}_${Date.now()}`;
    const store = await ObjectRepositoryStore.open(nc, bucket);
    const records = await NatsStateStore.open(nc, `${bucket}_state`, { decode: decodePublisherRecord });
    const pub = publisher(store, records);
    const base = await apk('zlib', 'aarch64');
    const app = await apk('app', 'aarch64', { depends: ['zlib'] });
    await pub.publish({ arch: 'aarch64', apks: [base] });
    await pub.publish({ arch: 'aarch64', apks: [app] });
    const http = await serveRepository(store);
    try {
      const repo = await loadRepository({ url: http.url }, 'aarch64', { keyring });
      const res = resolveWorld({ repositories: [repo], world: ['app'], arch: 'aarch64' });
      expect(res.packages.map((p) => p.entry.name)).toEqual(['zlib', 'app']);
      const got = join(dir, 'fetched-app.apk');
      writeFileSync(got, await fetchBytes(`${http.url}/aarch64/app-1.0-r0.apk`));
      expect(readFileSync(got)).toEqual(readFileSync(app));
      await verifyApk(got, { keyring });
      const index = await fetch(`${http.url}/aarch64/APKINDEX.tar.gz`);
      expect(index.headers.get('cache-control')).toBe('no-store');
      expect((await fetch(`${http.url}/aarch64/missing-1-r0.apk`)).status).toBe(404);
      expect((await fetch(`${http.url}/aarch64/..%2Fx.apk`)).status).toBe(400);
      expect((await fetch(`${http.url}/aarch64/APKINDEX.tar.gz`, { method: 'POST' })).status).toBe(405);
    } finally {
      await http.close();
      await store.os.destroy();
      await records.kv.destroy();
    }
  });

  it('the object store takes the same package again (a coordinator that died before the index), refuses other bytes', async () => {
    const bucket = `same_${process.pid}_${Date.now()}`;
    const store = await ObjectRepositoryStore.open(nc, bucket);
    try {
      const a = await apk('osame');
      await store.putApk('x86_64', 'osame-1.0-r0.apk', a);
      await store.putApk('x86_64', 'osame-1.0-r0.apk', a);
      const other = await apk('osame', 'x86_64', { marker: 'different\n' });
      await expect(store.putApk('x86_64', 'osame-1.0-r0.apk', other)).rejects.toThrow(/never overwritten/);
    } finally {
      await store.os.destroy();
    }
  });

  it('two publishers racing over NATS KV and the object store lose nothing', async () => {
    const bucket = `race_${process.pid}_${Date.now()}`;
    const store = await ObjectRepositoryStore.open(nc, bucket);
    const records = await NatsStateStore.open(nc, `${bucket}_state`, { decode: decodePublisherRecord });
    try {
      const one = publisher(store, records);
      const two = publisher(store, records);
      const apks = await Promise.all(Array.from({ length: 12 }, (_, i) => apk(`nrace${i}`)));
      await Promise.all(apks.map((p, i) => (i % 2 ? one : two).publish({ arch: 'x86_64', apks: [p] })));
      const names = readIndexArchive((await store.readIndex('x86_64'))!, 'i', { keyring }).index.entries.map(
        (e) => e.name,
      );
      expect(names.sort()).toEqual(apks.map((_, i) => `nrace${i}`).sort());
    } finally {
      await store.os.destroy();
      await records.kv.destroy();
    }
  });
});
