import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addToIndexFile,
  installPackages,
  Keyring,
  loadRepository,
  packageInfo,
  type PackageInfo,
  packApk,
  type RepositorySpec,
  resolveWorld,
  type SigningKey,
  signingKeyFromPem,
} from '@melange2/apk';
import {
  controlSegment,
  encodeEntry,
  EOF_BLOCKS,
  gzipMember,
  identityOf,
  type TarHeader,
} from '@melange2/apk/internal';
import { testKey, tmp, tree } from './helpers.js';

let key: SigningKey;
let keyring: Keyring;
let repoDir: string;
let server: Server;
let httpUrl: string;

async function pkg(
  dir: string,
  info: Partial<PackageInfo> & { name: string; version: string },
  files: Parameters<typeof tree>[1],
) {
  const src = tree(tmp(), files);
  const out = join(dir, 'x86_64', `${info.name}-${info.version}.apk`);
  await packApk({
    dir: src,
    info: packageInfo({ arch: 'x86_64', ...info }),
    signingKey: key,
    output: out,
    sourceDateEpoch: 1700000000,
  });
  return out;
}

/** A package made from raw tar headers, to test what a hostile package could contain. */
function rawApk(path: string, name: string, entries: { h: Omit<TarHeader, 'mtime'>; body?: string }[]): void {
  const data = gzipMember(
    Buffer.concat([
      ...entries.map(({ h, body }) => encodeEntry({ mtime: 0, ...h }, Buffer.from(body ?? ''))),
      EOF_BLOCKS,
    ]),
  );
  const info = packageInfo({ name, version: '1-r0', arch: 'x86_64', size: 10 });
  info.datahash = createHash('sha256').update(data).digest('hex');
  const ctl = gzipMember(controlSegment(info, {}, 0));
  writeFileSync(path, Buffer.concat([ctl, data]));
  void identityOf;
}

beforeAll(async () => {
  const kp = await testKey();
  key = signingKeyFromPem(kp.privatePem, 'test.rsa.pub');
  keyring = new Keyring().add('test.rsa.pub', kp.publicPem);
  repoDir = tmp('repo-');
  const apks = [
    await pkg(
      repoDir,
      { name: 'baselayout', version: '1-r0' },
      { 'usr/lib/os-release': 'ID=test\n', lib: { link: 'usr/lib' }, etc: null },
    ),
    await pkg(
      repoDir,
      { name: 'busybox', version: '1.36.1-r0', provides: ['cmd:sh=1.36.1-r0'], depends: ['baselayout'] },
      { 'bin/busybox': 'ELF', 'bin/sh': { link: '/bin/busybox' } },
    ),
    await pkg(
      repoDir,
      { name: 'libfoo', version: '2-r0', provides: ['so:libfoo.so.2=2'], depends: ['baselayout'] },
      { 'lib/libfoo.so.2': 'foo' },
    ),
    await pkg(
      repoDir,
      { name: 'foo', version: '2-r0', depends: ['so:libfoo.so.2', 'cmd:sh'], origin: 'foo' },
      { 'usr/bin/foo': 'foo bin', 'etc/foo.conf': 'a' },
    ),
    await pkg(repoDir, { name: 'clash', version: '1-r0' }, { 'usr/bin/foo': 'other' }),
    await pkg(
      repoDir,
      { name: 'standin', version: '1-r0', provides: ['foo', 'bar'] },
      { 'usr/bin/foo': 'stand-in', 'usr/bin/bar': 'stand-in bar' },
    ),
    await pkg(repoDir, { name: 'realdir', version: '1-r0' }, { 'opt/x/file': 'x' }),
    await pkg(
      repoDir,
      { name: 'linkdir', version: '1-r0', depends: ['realdir'] },
      { 'opt/x': { link: '/tmp' } },
    ),
  ];
  await addToIndexFile(join(repoDir, 'x86_64', 'APKINDEX.tar.gz'), apks, { signingKey: key, fresh: true });
  server = createServer((req, res) => {
    const p = join(repoDir, decodeURIComponent(req.url ?? '/'));
    if (!p.startsWith(repoDir) || !existsSync(p)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200).end(readFileSync(p));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  httpUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function install(url: string, world: string[], root = tmp('root-')) {
  const spec: RepositorySpec = { url };
  const repo = await loadRepository(spec, 'x86_64', { keyring });
  const res = resolveWorld({ repositories: [repo], world, arch: 'x86_64' });
  const cacheDir = tmp('cache-');
  const r = await installPackages({
    packages: res.packages,
    repositories: [spec],
    arch: 'x86_64',
    world,
    cacheDir,
    keyring,
    root,
  });
  return { root, r, cacheDir, res };
}

describe('install into a root', () => {
  it('installs a resolved world from a local repository with an apk database', async () => {
    const { root, r } = await install(repoDir, ['foo']);
    expect(r.packages.map((p) => p.entry.name)).toEqual(['baselayout', 'busybox', 'libfoo', 'foo']);
    expect(readFileSync(join(root, 'usr/bin/foo'), 'utf8')).toBe('foo bin');
    expect(readlinkSync(join(root, 'lib'))).toBe('usr/lib');
    expect(readFileSync(join(root, 'usr/lib/libfoo.so.2'), 'utf8')).toBe('foo');
    expect(readlinkSync(join(root, 'bin/sh'))).toBe('/bin/busybox');
    // `lib` is a symlink, so the database lives in usr/lib/apk/db (reached through lib/apk/db).
    expect(r.dbPath).toBe('usr/lib/apk/db');
    const installed = readFileSync(join(root, 'lib/apk/db/installed'), 'utf8');
    const foo = `${installed.split('\n\n').find((rec) => rec.includes('\nP:foo\n'))}\n`;
    expect(foo).toMatch(
      /^C:Q1[A-Za-z0-9+/]{27}=\nP:foo\nV:2-r0\nA:x86_64\nS:\d+\nI:\d+\nT:\nU:\nL:\no:foo\nt:1700000000\nD:so:libfoo.so.2 cmd:sh\n/,
    );
    expect(foo).toContain(`F:usr/bin\nR:foo\nZ:Q1${createHash('sha1').update('foo bin').digest('base64')}\n`);
    expect(foo).toContain('F:etc\nR:foo.conf\n');
    expect(installed.endsWith('\n\n')).toBe(true);
    expect(readFileSync(join(root, 'etc/apk/world'), 'utf8')).toBe('foo\n');
    expect(readFileSync(join(root, 'etc/apk/repositories'), 'utf8')).toBe(`${repoDir}\n`);
    expect(readFileSync(join(root, 'etc/apk/arch'), 'utf8')).toBe('x86_64\n');
    expect(readFileSync(join(root, 'etc/apk/keys/test.rsa.pub'), 'utf8')).toMatch(/BEGIN PUBLIC KEY/);
    expect(statSync(join(root, 'tmp')).mode & 0o7777).toBe(0o1777);
    // One directory per package, with only that package's files.
    const bb = r.packages.find((p) => p.entry.name === 'busybox')!;
    expect(readFileSync(join(bb.tree, 'bin/busybox'), 'utf8')).toBe('ELF');
    expect(existsSync(join(bb.tree, 'usr/bin/foo'))).toBe(false);
  });

  it('can hard-link the merged root from the cache', async () => {
    const spec = { url: repoDir };
    const repo = await loadRepository(spec, 'x86_64', { keyring });
    const res = resolveWorld({ repositories: [repo], world: ['foo'] });
    const root = tmp('root-');
    const r = await installPackages({
      packages: res.packages,
      repositories: [spec],
      arch: 'x86_64',
      world: ['foo'],
      cacheDir: tmp('cache-'),
      root,
      hardlink: true,
    });
    const foo = r.packages.find((p) => p.entry.name === 'foo')!;
    expect(statSync(join(root, 'usr/bin/foo')).ino).toBe(statSync(join(foo.tree, 'usr/bin/foo')).ino);
  });

  it('installs from an http(s) repository', async () => {
    const { root } = await install(httpUrl, ['foo']);
    expect(readFileSync(join(root, 'usr/bin/foo'), 'utf8')).toBe('foo bin');
  });

  it('refuses to overwrite another package’s file', async () => {
    await expect(install(repoDir, ['foo', 'clash'])).rejects.toThrow(
      /trying to overwrite usr\/bin\/foo owned by/,
    );
  });

  it('lets a real package replace the files of a stand-in providing its name unversioned', async () => {
    for (const world of [
      ['standin', 'foo'],
      ['foo', 'standin'],
    ]) {
      const { root, res } = await install(repoDir, world);
      const order = res.packages.map((p) => p.entry.name);
      expect(order.indexOf('standin')).toBeLessThan(order.indexOf('foo'));
      expect(readFileSync(join(root, 'usr/bin/foo'), 'utf8')).toBe('foo bin');
      expect(readFileSync(join(root, 'usr/bin/bar'), 'utf8')).toBe('stand-in bar');
    }
    // A package it does not stand in for still may not overwrite it.
    await expect(install(repoDir, ['standin', 'clash'])).rejects.toThrow(/trying to overwrite usr\/bin\/foo/);
  });

  it('refuses to replace a directory by a symlink', async () => {
    await expect(install(repoDir, ['linkdir'])).rejects.toThrow(
      /opt\/x is a directory in the root; a symlink cannot replace it/,
    );
  });

  it('refetches a corrupt cached download once', async () => {
    const spec = { url: repoDir };
    const repo = await loadRepository(spec, 'x86_64', { keyring });
    const res = resolveWorld({ repositories: [repo], world: ['baselayout'] });
    const cacheDir = tmp('cache-');
    const p = res.packages[0]!;
    const hex = Buffer.from(p.entry.checksum.slice(2), 'base64').toString('hex');
    const cached = join(cacheDir, 'apk', `${hex}.apk`);
    const good = readFileSync(join(repoDir, 'x86_64', 'baselayout-1-r0.apk'));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(cacheDir, 'apk'), { recursive: true });
    const bad = Buffer.from(good);
    bad[bad.length - 40]! ^= 1;
    writeFileSync(cached, bad);
    const r = await installPackages({
      packages: res.packages,
      repositories: [spec],
      arch: 'x86_64',
      world: [],
      cacheDir,
    });
    expect(readFileSync(r.packages[0]!.apk).equals(good)).toBe(true);
  });

  it('reports a corrupt repository package after one refetch', async () => {
    const dir = tmp('badrepo-');
    const apk = await pkg(dir, { name: 'x', version: '1-r0' }, { 'usr/x': 'x' });
    await addToIndexFile(join(dir, 'x86_64', 'APKINDEX.tar.gz'), [apk], { signingKey: key, fresh: true });
    const buf = readFileSync(apk);
    buf[buf.length - 40]! ^= 1;
    writeFileSync(apk, buf);
    await expect(install(dir, ['x'])).rejects.toThrow(/x-1-r0 from .*datahash.*\(after refetch\)/);
  });
});

describe('path traversal is rejected', () => {
  const hostile: [string, { h: Omit<TarHeader, 'mtime'>; body?: string }[], RegExp][] = [
    [
      'dotdot',
      [{ h: { name: '../evil', type: 'file', mode: 0o644 }, body: 'x' }],
      /entry "..\/evil" leads out of the root/,
    ],
    [
      'abs',
      [{ h: { name: '/etc/evil', type: 'file', mode: 0o644 }, body: 'x' }],
      /"\/etc\/evil" is an absolute/,
    ],
    [
      'symlinkout',
      [
        { h: { name: 'usr', type: 'directory', mode: 0o755 } },
        { h: { name: 'usr/up', type: 'symlink', mode: 0o777, linkname: '../../../etc' } },
      ],
      /"usr\/up" is a symlink to "..\/..\/..\/etc", outside the root/,
    ],
    [
      'through',
      [
        { h: { name: 'd', type: 'symlink', mode: 0o777, linkname: '/tmp' } },
        { h: { name: 'd/evil', type: 'file', mode: 0o644 }, body: 'x' },
      ],
      /"d\/evil" goes through the symlink "d"/,
    ],
    [
      'hardlink',
      [{ h: { name: 'passwd', type: 'link', mode: 0o644, linkname: '../../etc/passwd' } }],
      /leads out of the root/,
    ],
    [
      'hardlink2',
      [{ h: { name: 'passwd', type: 'link', mode: 0o644, linkname: 'etc/passwd' } }],
      /hard link to "etc\/passwd", which is not an earlier file/,
    ],
  ];
  it.each(hostile)('%s', async (name, entries, want) => {
    const dir = tmp('hostile-');
    const apk = join(dir, 'x86_64', `${name}-1-r0.apk`);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'x86_64'));
    rawApk(apk, name, entries);
    await addToIndexFile(join(dir, 'x86_64', 'APKINDEX.tar.gz'), [apk], { signingKey: key, fresh: true });
    const root = tmp('root-');
    await expect(install(dir, [name], join(root, 'r'))).rejects.toThrow(want);
    expect(existsSync(join(root, 'evil'))).toBe(false);
    expect(existsSync('/etc/evil')).toBe(false);
    expect(existsSync('/tmp/evil')).toBe(false);
  });
});
