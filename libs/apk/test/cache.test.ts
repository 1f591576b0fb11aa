import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addToIndexFile,
  type CacheEvent,
  installPackages,
  Keyring,
  loadRepository,
  packageInfo,
  packApk,
  type RepositorySpec,
  type ResolvedPackage,
  resolveWorld,
  signingKeyFromPem,
} from '@melange2/apk';
import {
  cachePaths,
  discard,
  moveAside,
  pruneCache,
  publishDir,
  publishFile,
  TRASH_DIR,
} from '@melange2/apk/internal';
import { testKey, tmp, tree } from './helpers.js';

const ino = (p: string) => statSync(p).ino;
const summary = (e: CacheEvent) => ('outcome' in e ? `${e.type}:${e.outcome}` : e.type);
const trashOf = (cache: string) =>
  existsSync(join(cache, TRASH_DIR)) ? readdirSync(join(cache, TRASH_DIR)) : [];

describe('publishing into the cache never replaces an existing entry', () => {
  it('a file: the first one stays, ours is reported as not placed', async () => {
    const d = tmp('pub-');
    writeFileSync(join(d, 'a.tmp-1'), 'first');
    writeFileSync(join(d, 'a.tmp-2'), 'second');
    expect(await publishFile(join(d, 'a.tmp-1'), join(d, 'a'))).toBe('placed');
    expect(await publishFile(join(d, 'a.tmp-2'), join(d, 'a'))).toBe('kept-existing');
    expect(readFileSync(join(d, 'a'), 'utf8')).toBe('first');
  });

  it('a directory: an existing tree (even an empty one) keeps its inode; ours is removed', async () => {
    const cache = tmp('pubdir-');
    const dest = join(cache, 'tree', 'k');
    tree(join(cache, 'tree', 'k.tmp-1'), { f: 'one' });
    expect(await publishDir(join(cache, 'tree', 'k.tmp-1'), dest, cache)).toBe('placed');
    const before = ino(dest);
    tree(join(cache, 'tree', 'k.tmp-2'), { f: 'two' });
    expect(await publishDir(join(cache, 'tree', 'k.tmp-2'), dest, cache)).toBe('kept-existing');
    expect(ino(dest)).toBe(before);
    expect(readFileSync(join(dest, 'f'), 'utf8')).toBe('one');
    expect(existsSync(join(cache, 'tree', 'k.tmp-2'))).toBe(false);

    const empty = join(cache, 'tree', 'e');
    mkdirSync(empty);
    const emptyIno = ino(empty);
    mkdirSync(join(cache, 'tree', 'e.tmp-1'));
    expect(await publishDir(join(cache, 'tree', 'e.tmp-1'), empty, cache)).toBe('kept-existing');
    expect(ino(empty)).toBe(emptyIno);
    expect(trashOf(cache)).toEqual([]);
  });

  it('moves aside only the inode that was found corrupt', async () => {
    const cache = tmp('aside-');
    const f = join(cache, 'apk', 'x.apk');
    mkdirSync(join(cache, 'apk'));
    writeFileSync(f, 'corrupt');
    const bad = ino(f);
    // Someone replaced it with a good copy since we looked: theirs stays.
    writeFileSync(join(cache, 'apk', 'good'), 'good');
    await publishFile(join(cache, 'apk', 'good'), join(cache, 'apk', 'x2.apk'));
    expect(await moveAside(cache, join(cache, 'apk', 'x2.apk'), bad)).toBe(false);
    expect(existsSync(join(cache, 'apk', 'x2.apk'))).toBe(true);
    expect(await moveAside(cache, f, bad)).toBe(true);
    expect(existsSync(f)).toBe(false);
    expect(await moveAside(cache, f, bad)).toBe(false);
    const [t] = trashOf(cache);
    expect(t).toMatch(/^x\.apk\.\d+-[0-9a-f]{12}$/);
    expect(readFileSync(join(cache, TRASH_DIR, t!), 'utf8')).toBe('corrupt');
  });

  it('discards a private temp tree, read-only directories included', async () => {
    const cache = tmp('discard-');
    const t = join(cache, 'tree', 'k.tmp-9');
    tree(t, { 'ro/f': 'x' });
    chmodSync(join(t, 'ro'), 0o555);
    await discard(t, cache);
    expect(existsSync(t)).toBe(false);
    expect(trashOf(cache)).toEqual([]);
  });

  it('prunes old trash and dead temps, never entries or recent temps', async () => {
    const cache = tmp('prune-');
    tree(cache, {
      'apk/a.apk': 'a',
      'apk/a.apk.tmp-1-00': 'old',
      'apk/b.apk.tmp-1-01': 'new',
      'tree/k/f': 'x',
      'tree/k.tmp-1-02/f': 'old',
      'tree/k.json': '{}',
      'trash/x.apk.1-03': 'old',
    });
    const old = Date.now() / 1000 - 7 * 3600;
    for (const p of ['apk/a.apk', 'apk/a.apk.tmp-1-00', 'tree/k', 'tree/k.tmp-1-02', 'trash/x.apk.1-03'])
      utimesSync(join(cache, p), old, old);
    const r = await pruneCache(cache);
    expect(r.removed.map((p) => p.slice(cache.length + 1)).sort()).toEqual([
      'apk/a.apk.tmp-1-00',
      'trash/x.apk.1-03',
      'tree/k.tmp-1-02',
    ]);
    expect(readdirSync(join(cache, 'apk')).sort()).toEqual(['a.apk', 'b.apk.tmp-1-01']);
    expect(readdirSync(join(cache, 'tree')).sort()).toEqual(['k', 'k.json']);
    expect(await pruneCache(tmp('prune-empty-'))).toEqual({ removed: [] });
  });
});

describe('installing over an existing cache entry', () => {
  let spec: RepositorySpec;
  let pkgs: ResolvedPackage[];
  const install = async (cacheDir: string) => {
    const events: CacheEvent[] = [];
    const r = await installPackages({
      packages: pkgs,
      repositories: [spec],
      arch: 'x86_64',
      world: ['p'],
      cacheDir,
      onCacheEvent: (e) => events.push(e),
    });
    return { r, events };
  };

  beforeAll(async () => {
    const kp = await testKey();
    const repo = tmp('exist-repo-');
    const out = join(repo, 'x86_64', 'p-1-r0.apk');
    await packApk({
      dir: tree(tmp(), { 'usr/bin/p': 'p', 'usr/share/p/data': 'data' }),
      info: packageInfo({ name: 'p', version: '1-r0', arch: 'x86_64' }),
      signingKey: signingKeyFromPem(kp.privatePem, 'test.rsa.pub'),
      output: out,
    });
    await addToIndexFile(join(repo, 'x86_64', 'APKINDEX.tar.gz'), [out], {
      signingKey: signingKeyFromPem(kp.privatePem, 'test.rsa.pub'),
      fresh: true,
    });
    spec = { url: repo };
    const keyring = new Keyring().add('test.rsa.pub', kp.publicPem);
    const loaded = await loadRepository(spec, 'x86_64', { keyring });
    pkgs = resolveWorld({ repositories: [loaded], world: ['p'], arch: 'x86_64' }).packages;
  });

  it('a second install is a hit and hands out the same tree', async () => {
    const cache = tmp('exist-');
    const first = await install(cache);
    expect(first.events.map((e) => e.type)).toEqual(['downloaded', 'extracted']);
    const tree0 = ino(first.r.packages[0]!.tree);
    const second = await install(cache);
    expect(second.events).toEqual([{ type: 'hit', pkg: 'p-1-r0' }]);
    expect(ino(second.r.packages[0]!.tree)).toBe(tree0);
  });

  it('a tree without its manifest (a writer died between the two) is kept, not replaced', async () => {
    const cache = tmp('exist-');
    const { r } = await install(cache);
    const p = cachePaths(cache, pkgs[0]!.entry.checksum);
    const tree0 = ino(p.tree);
    const { rmSync } = await import('node:fs');
    rmSync(p.manifest);
    const again = await install(cache);
    expect(again.events).toEqual([{ type: 'extracted', pkg: 'p-1-r0', outcome: 'kept-existing' }]);
    expect(ino(p.tree)).toBe(tree0);
    expect(again.r.packages[0]!.manifest).toEqual(r.packages[0]!.manifest);
    expect(readdirSync(join(cache, 'tree')).sort()).toEqual([basename(p.tree), basename(p.manifest)].sort());
  });

  it('a corrupt manifest is moved aside with its tree, then both are rebuilt', async () => {
    const cache = tmp('exist-');
    await install(cache);
    const p = cachePaths(cache, pkgs[0]!.entry.checksum);
    writeFileSync(p.manifest, '{"checksum":"Q1other"}');
    const again = await install(cache);
    expect(again.events.map(summary)).toEqual(['moved-aside', 'moved-aside', 'extracted:placed']);
    // The tree goes before its manifest: a tree under its final name always has one.
    expect(again.events.slice(0, 2).map((e) => (e.type === 'moved-aside' ? e.path : ''))).toEqual([
      p.tree,
      p.manifest,
    ]);
    expect(trashOf(cache)).toHaveLength(2);
    expect(readFileSync(join(p.tree, 'usr/bin/p'), 'utf8')).toBe('p');
  });

  it('a corrupt cached .apk is moved aside, refetched, and the existing tree is kept', async () => {
    const cache = tmp('exist-');
    await install(cache);
    const p = cachePaths(cache, pkgs[0]!.entry.checksum);
    const tree0 = ino(p.tree);
    const buf = readFileSync(p.apk);
    buf[buf.length - 30]! ^= 1;
    const { rmSync } = await import('node:fs');
    rmSync(p.apk);
    writeFileSync(p.apk, buf);
    rmSync(p.manifest);
    const again = await install(cache);
    expect(again.events.map(summary)).toEqual([
      'moved-aside',
      'downloaded:placed',
      'extracted:kept-existing',
    ]);
    expect(ino(p.tree)).toBe(tree0);
    expect(trashOf(cache)).toHaveLength(1);
  });
});
