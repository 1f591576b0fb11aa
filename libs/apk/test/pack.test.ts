import { createHash, verify } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ApkError,
  Keyring,
  packageInfo,
  packApk,
  readApkData,
  readApkHead,
  type SigningKey,
  signingKeyFromPem,
  verifyApk,
} from '@melange2/apk';
import { parseTarSegment, readGzipMember } from '@melange2/apk/internal';
import { otherKey, testKey, tmp, tree } from './helpers.js';

let key: SigningKey;
let keyring: Keyring;
let wrongKeyring: Keyring;

beforeAll(async () => {
  const kp = await testKey();
  key = signingKeyFromPem(kp.privatePem, 'test.rsa.pub');
  keyring = new Keyring().add('test.rsa.pub', kp.publicPem);
  wrongKeyring = new Keyring().add('test.rsa.pub', (await otherKey()).publicPem);
});

function splitMembers(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    const m = readGzipMember(buf.subarray(off), 'test');
    out.push(buf.subarray(off, off + m.length));
    off += m.length;
  }
  return out;
}

async function makePkg(dir?: string) {
  const src =
    dir ??
    tree(tmp(), {
      'usr/bin/hello': '#!/bin/sh\necho hello\n',
      'usr/share/doc/hello/README': 'read me\n',
      'usr/bin/hi': { link: 'hello' },
      'etc/hello.conf': 'x=1\n',
    });
  chmodSync(join(src, 'usr/bin/hello'), 0o755);
  const out = join(tmp(), 'hello-1.0.0-r0.apk');
  const res = await packApk({
    dir: src,
    info: packageInfo({
      name: 'hello',
      version: '1.0.0-r0',
      arch: 'x86_64',
      description: 'says hello',
      license: 'MIT',
      depends: ['so:libc.so.6', 'busybox>=1.36'],
      provides: ['cmd:hello=1.0.0-r0'],
    }),
    signingKey: key,
    sourceDateEpoch: 1700000000,
    output: out,
  });
  return { src, out, res };
}

describe('packApk: byte-level format (research notes §1, §8)', () => {
  it('writes sig ‖ control ‖ data as apk-tools expects', async () => {
    const { out, res } = await makePkg();
    const file = readFileSync(out);
    const members = splitMembers(file);
    expect(members).toHaveLength(3);
    const [sig, ctl, data] = members as [Buffer, Buffer, Buffer];
    // gzip headers: MTIME 0, OS 3 (unix); level 9 for sig/control → XFL 2.
    expect(sig.subarray(0, 10).toString('hex')).toBe('1f8b0800000000000203');
    expect(ctl.subarray(0, 10).toString('hex')).toBe('1f8b0800000000000203');
    expect(data.subarray(0, 4).toString('hex')).toBe('1f8b0800');
    expect(data.readUInt32LE(4)).toBe(0);

    const sigTar = gunzipSync(sig);
    const ctlTar = gunzipSync(ctl);
    const dataTar = gunzipSync(data);
    // Signature and control segments are cut (no EOF blocks); the data tar keeps them.
    expect(sigTar.length).toBe(1024);
    expect(sigTar.subarray(512).every((b) => b === 0)).toBe(false);
    expect(ctlTar.subarray(ctlTar.length - 512).every((b) => b === 0)).toBe(false);
    expect(dataTar.subarray(dataTar.length - 1024).every((b) => b === 0)).toBe(true);
    expect((sigTar.length % 512) + (ctlTar.length % 512) + (dataTar.length % 512)).toBe(0);

    const sigEntries = parseTarSegment(sigTar, 'sig');
    expect(sigEntries.map((e) => e.name)).toEqual(['.SIGN.RSA256.test.rsa.pub']);
    expect(sigEntries[0]!.content.length).toBe(256);
    expect(verify('sha256', ctl, keyring.lookup('test.rsa.pub')!, sigEntries[0]!.content)).toBe(true);

    const ctlEntries = parseTarSegment(ctlTar, 'ctl');
    expect(ctlEntries[0]!.name).toBe('.PKGINFO');
    const pkginfo = ctlEntries[0]!.content.toString();
    expect(pkginfo).toContain(`datahash = ${createHash('sha256').update(data).digest('hex')}\n`);
    expect(pkginfo.trimEnd().split('\n').at(-1)).toMatch(/^datahash = /);
    expect(pkginfo).toContain('depend = so:libc.so.6\ndepend = busybox>=1.36\n');
    expect(pkginfo).toMatch(/\nsize = [1-9]\d*\n/);
    expect(res.checksum).toBe(`Q1${createHash('sha1').update(ctl).digest('base64')}`);

    // Data: parents before children, no ./ prefix, root:root, typeflag '0', PAX sha1.
    const names: string[] = [];
    let off = 0;
    let pendingPax = '';
    while (off < dataTar.length && dataTar[off] !== 0) {
      const h = dataTar.subarray(off, off + 512);
      const name = h.toString('utf8', 0, 100).replace(/\0.*$/s, '');
      const size = Number.parseInt(h.toString('ascii', 124, 135), 8);
      const type = String.fromCharCode(h[156]!);
      const body = dataTar.subarray(off + 512, off + 512 + size);
      off += 512 + Math.ceil(size / 512) * 512;
      if (type === 'x') {
        pendingPax = body.toString();
        continue;
      }
      expect(h.toString('ascii', 257, 263)).toBe('ustar\0');
      expect(h.toString('ascii', 265, 269)).toBe('root');
      expect(h.toString('ascii', 297, 301)).toBe('root');
      expect(Number.parseInt(h.toString('ascii', 108, 115), 8)).toBe(0);
      expect(Number.parseInt(h.toString('ascii', 136, 147), 8)).toBe(1700000000);
      expect(name.startsWith('./') || name.startsWith('/')).toBe(false);
      const parent = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : '';
      if (parent) expect(names).toContain(parent);
      if (type === '0') {
        const sha1 = createHash('sha1').update(body).digest('hex');
        expect(pendingPax).toContain(` APK-TOOLS.checksum.SHA1=${sha1}\n`);
      } else if (type === '2') {
        const target = h.toString('utf8', 157, 257).replace(/\0.*$/s, '');
        expect(pendingPax).toContain(createHash('sha1').update(target).digest('hex'));
      } else expect(type).toBe('5');
      pendingPax = '';
      names.push(name);
    }
    expect(names).toEqual([
      'etc',
      'etc/hello.conf',
      'usr',
      'usr/bin',
      'usr/bin/hello',
      'usr/bin/hi',
      'usr/share',
      'usr/share/doc',
      'usr/share/doc/hello',
      'usr/share/doc/hello/README',
    ]);
  });

  it('is reproducible: same inputs → same bytes', async () => {
    const a = await makePkg();
    const b = await makePkg();
    const h = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
    expect(h(a.out)).toBe(h(b.out));
  });
});

describe('readApkHead / verifyApk / readApkData', () => {
  it('round-trips metadata, files and signature', async () => {
    const { out, res } = await makePkg();
    const v = await verifyApk(out, { keyring, checksum: res.checksum });
    expect(v.signedBy).toBe('test.rsa.pub');
    expect(v.head.info).toMatchObject({ name: 'hello', version: '1.0.0-r0', arch: 'x86_64', license: 'MIT' });
    expect(v.head.info.provides).toEqual(['cmd:hello=1.0.0-r0']);
    const seen: Record<string, string> = {};
    await readApkData(v.head, async (e, content) => {
      let body = '';
      for await (const c of content) body += c.toString();
      seen[e.name] = e.type === 'symlink' ? `-> ${e.linkname}` : e.type === 'file' ? body : e.type;
      if (e.type === 'file') expect(e.sha1).toBe(createHash('sha1').update(body).digest('hex'));
    });
    expect(seen['usr/bin/hello']).toBe('#!/bin/sh\necho hello\n');
    expect(seen['usr/bin/hi']).toBe('-> hello');
    expect(seen['usr']).toBe('directory');
  });

  const flipAt = async (which: 0 | 1 | 2) => {
    const { out } = await makePkg();
    const buf = readFileSync(out);
    const head = await readApkHead(out);
    const starts = [0, head.signatureMember.length, head.dataOffset, buf.length];
    const pos = Math.floor((starts[which]! + 12 + starts[which + 1]! - 8) / 2);
    buf[pos]! ^= 0xff;
    writeFileSync(out, buf);
    return out;
  };
  const code = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'ok';
    } catch (e) {
      expect(e).toBeInstanceOf(ApkError);
      return `${(e as ApkError).code}: ${(e as Error).message}`;
    }
  };

  it('tampered signature member → bad gzip or bad signature', async () => {
    const out = await flipAt(0);
    expect(await code(verifyApk(out, { keyring }))).toMatch(/^(bad-gzip|bad-signature|bad-tar)/);
  });
  it('tampered control member → signature does not verify', async () => {
    const out = await flipAt(1);
    expect(await code(verifyApk(out, { keyring }))).toMatch(/^(bad-signature|bad-gzip)/);
  });
  it('tampered data member → datahash mismatch', async () => {
    const out = await flipAt(2);
    expect(await code(verifyApk(out, { keyring }))).toMatch(/^datahash-mismatch: .*does not match datahash/);
  });
  it('wrong key → bad signature; unknown key → untrusted', async () => {
    const { out } = await makePkg();
    expect(await code(verifyApk(out, { keyring: wrongKeyring }))).toMatch(/^bad-signature/);
    expect(
      await code(verifyApk(out, { keyring: new Keyring().add('x.rsa.pub', (await otherKey()).publicPem) })),
    ).toMatch(/^untrusted: .*signed by test.rsa.pub/);
  });
  it('wrong identity → identity mismatch', async () => {
    const { out } = await makePkg();
    expect(await code(verifyApk(out, { checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }))).toMatch(
      /^identity-mismatch/,
    );
  });
  it('truncated file → truncated or datahash mismatch', async () => {
    const { out } = await makePkg();
    const buf = readFileSync(out);
    writeFileSync(out, buf.subarray(0, buf.length - 100));
    expect(await code(verifyApk(out, { keyring }))).toMatch(/^datahash-mismatch/);
    writeFileSync(out, buf.subarray(0, 300));
    expect(await code(verifyApk(out, { keyring }))).toMatch(/^truncated/);
  });
  it('malformed .PKGINFO names the line', async () => {
    const { parsePkginfo } = await import('@melange2/apk/internal');
    expect(() => parsePkginfo('pkgname = a\npkgver = 1.0-r0\nbogus line\n', 'x/.PKGINFO')).toThrow(
      'x/.PKGINFO:3: expected "key = value", got "bogus line"',
    );
    expect(() => parsePkginfo('pkgname = a\npkgver = 1.0-rx\narch = x86_64\n', 'p')).toThrow(
      /version "1.0-rx"/,
    );
  });
});

describe('packApk: hard links and long names', () => {
  it('stores a second name of an inode as a hard link to the first, and long names via PAX', async () => {
    const { linkSync } = await import('node:fs');
    const long = `usr/share/${'d'.repeat(90)}/${'f'.repeat(60)}`;
    const src = tree(tmp(), { 'usr/bin/a': 'same', [long]: 'long' });
    linkSync(join(src, 'usr/bin/a'), join(src, 'usr/bin/b'));
    const out = join(tmp(), 'l-1-r0.apk');
    const res = await packApk({
      dir: src,
      info: packageInfo({ name: 'l', version: '1-r0', arch: 'x86_64' }),
      output: out,
    });
    expect(res.info.size).toBe(8);
    const head = await readApkHead(out);
    const seen: string[] = [];
    await readApkData(head, async (e) => {
      seen.push(`${e.type}:${e.name}${e.linkname ? `->${e.linkname}` : ''}`);
    });
    expect(seen).toContain('link:usr/bin/b->usr/bin/a');
    expect(seen).toContain(`file:${long}`);
  });
});

describe('readApkData on a broken data member', () => {
  it('reports a truncated data member as bad gzip', async () => {
    const src = tree(tmp(), { 'usr/share/big': Buffer.alloc(300_000, 7) });
    const out = join(tmp(), 'big-1-r0.apk');
    await packApk({
      dir: src,
      info: packageInfo({ name: 'big', version: '1-r0', arch: 'x86_64' }),
      output: out,
    });
    const head = await readApkHead(out);
    const buf = readFileSync(out);
    writeFileSync(out, buf.subarray(0, head.dataOffset + Math.floor((buf.length - head.dataOffset) / 2)));
    await expect(
      readApkData({ ...head, fileSize: buf.length }, async (_e, content) => {
        for await (const _ of content);
      }),
    ).rejects.toThrow(/data member: /);
  });
});

describe('reading packages made by other tools', () => {
  it('reads a GNU tar (POSIX format) data member and an RSA/SHA-1 signature, as abuild makes them', async () => {
    const { execFileSync } = await import('node:child_process');
    const { createSign } = await import('node:crypto');
    const { gzipMember } = await import('@melange2/apk/internal');
    const { controlSegment } = await import('@melange2/apk/internal');
    const { encodeEntry } = await import('@melange2/apk/internal');
    const src = tree(tmp(), { 'usr/bin/tool': 'tool\n', 'usr/lib/libx.so.1': 'lib' });
    const dataTar = execFileSync('tar', ['--format=posix', '--owner=0', '--group=0', '-C', src, '-c', 'usr']);
    const data = gzipMember(dataTar);
    const info = packageInfo({ name: 'gnu', version: '1-r0', arch: 'x86_64', size: 8 });
    info.datahash = createHash('sha256').update(data).digest('hex');
    const ctl = gzipMember(controlSegment(info, {}, 0));
    const kp = await testKey();
    const sig = createSign('sha1').update(ctl).sign(kp.privatePem);
    const sigMember = gzipMember(
      encodeEntry({ name: '.SIGN.RSA.test.rsa.pub', type: 'file', mode: 0o644, mtime: 0 }, sig),
    );
    const out = join(tmp(), 'gnu-1-r0.apk');
    writeFileSync(out, Buffer.concat([sigMember, ctl, data]));
    const v = await verifyApk(out, { keyring });
    expect(v.signedBy).toBe('test.rsa.pub');
    const names: string[] = [];
    await readApkData(v.head, async (e, content) => {
      for await (const _ of content);
      names.push(`${e.type}:${e.name}`);
    });
    expect(names).toEqual(
      expect.arrayContaining(['directory:usr', 'directory:usr/bin', 'file:usr/bin/tool']),
    );
  });
});

describe('validatePackageInfo', () => {
  it('rejects fields apk would choke on, naming them', async () => {
    const { validatePackageInfo } = await import('@melange2/apk/internal');
    const ok = packageInfo({ name: 'a', version: '1-r0', arch: 'x86_64' });
    expect(() => validatePackageInfo({ ...ok, description: 'x'.repeat(3000) }, 'pkg')).toThrow(
      /total 3\d{3} bytes/,
    );
    expect(() => validatePackageInfo({ ...ok, description: 'two\nlines' }, 'pkg')).toThrow(
      /description must be a single line/,
    );
    expect(() => validatePackageInfo({ ...ok, name: '-bad' }, 'pkg')).toThrow(/package name "-bad"/);
    expect(() => validatePackageInfo({ ...ok, provides: ['so:x=1.x'] }, 'pkg')).toThrow(
      /"1.x" is not a valid version/,
    );
  });
});

describe('control files', () => {
  it('puts further control members after .PKGINFO, and refuses reserved or path-like names', async () => {
    const { controlSegment } = await import('@melange2/apk/internal');
    const info = packageInfo({ name: 'c', version: '1-r0', arch: 'x86_64' });
    const seg = controlSegment(info, { 'post-install': '#!/bin/sh\n' }, 0, {
      '.melange.yaml': 'package: {}\n',
    });
    const names = parseTarSegment(seg, 'control').map((e) => e.name);
    expect(names).toEqual(['.PKGINFO', '.melange.yaml', '.post-install']);
    for (const bad of ['.PKGINFO', '.post-install', 'x', '../.y', '.a/b'])
      expect(() => controlSegment(info, {}, 0, { [bad]: '' })).toThrow(/control file/);
  });
});
