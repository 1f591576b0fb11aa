import { rmSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  addToIndexFile,
  type ApkError,
  buildIndexArchive,
  type IndexEntry,
  Keyring,
  packageInfo,
  packApk,
  parseIndexText,
  readIndexArchive,
  readIndexFile,
  resignIndexArchive,
  type SigningKey,
  signingKeyFromPem,
  updateIndex,
} from '@melange2/apk';
import { formatIndexRecord, parseTarSegment } from '@melange2/apk/internal';
import { otherKey, testKey, tmp, tree } from './helpers.js';

let key: SigningKey;
let keyring: Keyring;

beforeAll(async () => {
  const kp = await testKey();
  key = signingKeyFromPem(kp.privatePem, 'test.rsa.pub');
  keyring = new Keyring().add('test.rsa.pub', kp.publicPem);
});

const entry = (name: string, version: string, extra: Partial<IndexEntry> = {}): IndexEntry => ({
  ...packageInfo({ name, version, arch: 'x86_64', size: 100 }),
  checksum: `Q1${Buffer.alloc(20, name.length).toString('base64')}`,
  fileSize: 1000,
  ...extra,
});

describe('APKINDEX text', () => {
  it('writes records in apk-tools field order', () => {
    const e = entry('replayout', '1.0.0-r0', {
      checksum: 'Q11/HhSewwwOXgl0r0ffb0O0BRtYc=',
      fileSize: 2961,
      size: 3389,
      description: 'replacement baselayout',
      license: 'MIT',
      origin: 'replayout',
      maintainer: 'unknown',
      commit: '326e0ed687bdfeadac839dc9b25686e4442c9d04',
      builddate: 1700000000,
      providerPriority: 10,
      depends: ['pretend-baselayout', 'so:libc.so.6'],
      provides: ['cmd:x=1.0.0-r0'],
      installIf: ['foo=1.0', 'docs'],
      url: '',
    });
    expect(formatIndexRecord(e)).toBe(
      'C:Q11/HhSewwwOXgl0r0ffb0O0BRtYc=\nP:replayout\nV:1.0.0-r0\nA:x86_64\nS:2961\nI:3389\nT:replacement baselayout\nU:\nL:MIT\no:replayout\nm:unknown\nt:1700000000\nc:326e0ed687bdfeadac839dc9b25686e4442c9d04\nk:10\nD:pretend-baselayout so:libc.so.6\np:cmd:x=1.0.0-r0\ni:foo=1.0 docs\n\n',
    );
    expect(parseIndexText(formatIndexRecord(e), 'x')[0]).toEqual(e);
  });
  it('names the line of a malformed record', () => {
    expect(() => parseIndexText('C:Q1x\nP:a\nV:1-r0\n\nC:Q1y\nbroken\n', 'repo/APKINDEX')).toThrow(
      'repo/APKINDEX:6: expected "X:value", got "broken"',
    );
    expect(() => parseIndexText('C:Q1x\nP:a\nZ:1\n\n', 'idx')).toThrow(/idx:3: unknown field "Z:"/);
    expect(() => parseIndexText('C:Q1x\nV:1\n\n', 'idx')).toThrow(/idx:1: record ending at line 3 lacks P:/);
  });
  it('tolerates a missing final blank line and ignores unknown lowercase fields', () => {
    const r = parseIndexText('C:Q1x\nP:a\nV:1-r0\nz:whatever\nD:b c', 'x');
    expect(r).toHaveLength(1);
    expect(r[0]!.depends).toEqual(['b', 'c']);
  });
});

describe('APKINDEX.tar.gz', () => {
  it('round-trips, signed over the index member, DESCRIPTION first', () => {
    const idx = {
      description: 'test repo',
      entries: [entry('b', '2.0-r0'), entry('a', '1.0-r0'), entry('B2', '1-r0')],
    };
    const buf = buildIndexArchive(idx, { signingKey: key, sourceDateEpoch: 0 });
    const r = readIndexArchive(buf, 'idx', { keyring });
    expect(r.signedBy).toBe('test.rsa.pub');
    expect(r.index.description).toBe('test repo');
    expect(r.index.entries.map((e) => e.name)).toEqual(['a', 'b', 'B2']);
    const inner = parseTarSegment(gunzipSync(r.signed), 'x');
    expect(inner.map((e) => e.name)).toEqual(['DESCRIPTION', 'APKINDEX']);
    expect(inner[1]!.content.toString().endsWith('\n\n')).toBe(true);
    expect(
      gunzipSync(r.signed)
        .subarray(-1024)
        .every((b) => b === 0),
    ).toBe(true);
    // Reproducible.
    expect(buildIndexArchive(idx, { signingKey: key, sourceDateEpoch: 0 }).equals(buf)).toBe(true);
  });
  it('rejects tampering, unsigned indexes and unknown keys with specific errors', async () => {
    const idx = { description: '', entries: [entry('a', '1.0-r0')] };
    const buf = buildIndexArchive(idx, { signingKey: key });
    const bad = Buffer.from(buf);
    bad[bad.length - 20]! ^= 0xff;
    const codeOf = (f: () => unknown) => {
      try {
        f();
        return 'ok';
      } catch (e) {
        return (e as ApkError).code;
      }
    };
    expect(codeOf(() => readIndexArchive(bad, 'idx', { keyring }))).toBe('bad-signature');
    expect(codeOf(() => readIndexArchive(buildIndexArchive(idx), 'idx', { keyring }))).toBe('unsigned');
    const other = new Keyring().add('other.rsa.pub', (await otherKey()).publicPem);
    expect(codeOf(() => readIndexArchive(buf, 'idx', { keyring: other }))).toBe('untrusted');
    const resigned = resignIndexArchive(
      buf,
      'idx',
      signingKeyFromPem((await otherKey()).privatePem, 'other.rsa.pub'),
    );
    expect(readIndexArchive(resigned, 'idx', { keyring: other }).signedBy).toBe('other.rsa.pub');
  });
  it('updates incrementally: add, replace, remove', () => {
    const idx = { description: 'd', entries: [entry('a', '1.0-r0'), entry('b', '1.0-r0')] };
    const next = updateIndex(idx, {
      add: [entry('a', '1.0-r0', { fileSize: 5 }), entry('c', '1-r0')],
      remove: [{ name: 'b', version: '1.0-r0' }],
    });
    expect(next.entries.map((e) => `${e.name}:${e.fileSize}`).sort()).toEqual(['a:5', 'c:1000']);
  });
  it('adds .apk files to an index file without re-reading the old ones', async () => {
    const repo = tmp();
    const mk = async (name: string) => {
      const out = join(repo, `${name}-1.0-r0.apk`);
      await packApk({
        dir: tree(tmp(), { [`usr/share/${name}`]: name }),
        info: packageInfo({ name, version: '1.0-r0', arch: 'noarch' }),
        signingKey: key,
        output: out,
      });
      return out;
    };
    const indexPath = join(repo, 'APKINDEX.tar.gz');
    const a = await mk('a');
    await addToIndexFile(indexPath, [a], { signingKey: key, rewriteArch: 'x86_64', description: 'r' });
    rmSync(a);
    const b = await mk('b');
    const idx = await addToIndexFile(indexPath, [b], { signingKey: key, keyring, rewriteArch: 'x86_64' });
    expect(idx.entries.map((e) => `${e.name}/${e.arch}`).sort()).toEqual(['a/x86_64', 'b/x86_64']);
    const back = readIndexFile(indexPath, { keyring });
    expect(back.index.description).toBe('r');
    expect(back.index.entries.find((e) => e.name === 'b')!.fileSize).toBe(readFileSync(b).length);
  });
  it('refuses to merge into an index whose signature does not verify', async () => {
    const repo = tmp();
    const indexPath = join(repo, 'APKINDEX.tar.gz');
    writeFileSync(indexPath, buildIndexArchive({ description: '', entries: [entry('a', '1-r0')] }));
    await expect(addToIndexFile(indexPath, [], { keyring })).rejects.toThrow(/not signed/);
  });
});

describe('IncrementalIndex', () => {
  it('keeps records sorted, replaces same name+version, and writes a readable signed index', async () => {
    const { IncrementalIndex } = await import('@melange2/apk');
    const path = join(tmp(), 'APKINDEX.tar.gz');
    const idx = IncrementalIndex.open(path, { description: 'inc' });
    idx.addEntries([entry('b', '1-r0'), entry('a', '2-r0'), entry('a', '1-r0')]);
    idx.addEntries([entry('a', '2-r0', { fileSize: 7 })]);
    expect(idx.entries.map((e) => `${e.name}-${e.version}:${e.fileSize}`)).toEqual([
      'a-1-r0:1000',
      'a-2-r0:7',
      'b-1-r0:1000',
    ]);
    expect(idx.remove('b', '1-r0')).toBe(true);
    idx.save({ signingKey: key });
    const back = IncrementalIndex.open(path, { keyring });
    expect(back.description).toBe('inc');
    expect(back.entries.map((e) => e.version)).toEqual(['1-r0', '2-r0']);
  });
});

describe('IncrementalIndex chunked compression', () => {
  it('recompresses only changed chunks yet yields a valid, content-determined gzip member', async () => {
    const { IncrementalIndex } = await import('@melange2/apk');
    const { crc32Combine } = await import('@melange2/apk/internal');
    const { crc32 } = await import('node:zlib');
    const a = Buffer.from('hello ');
    const b = Buffer.from('world, and more bytes');
    expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(Buffer.concat([a, b])));
    const many = Array.from({ length: 3000 }, (_, i) => entry(`p${i}`, `1.${i}-r0`));
    const x = IncrementalIndex.open(join(tmp(), 'A'));
    x.addEntries(many.slice(0, 2000));
    x.build();
    x.addEntries(many.slice(2000));
    const inc = x.build({ signingKey: key });
    const y = IncrementalIndex.open(join(tmp(), 'B'));
    y.addEntries([...many].reverse());
    expect(y.build({ signingKey: key }).equals(inc)).toBe(true);
    const r = readIndexArchive(inc, 'inc', { keyring });
    expect(r.index.entries).toHaveLength(3000);
    expect(r.index.entries.map((e) => e.name)).toEqual(
      [...many].sort((p, q) => (p.name.toLowerCase() < q.name.toLowerCase() ? -1 : 1)).map((e) => e.name),
    );
    // Node's gunzip checks CRC and length: a mismatch would throw.
    expect(gunzipSync(r.signed).length % 512).toBe(0);
  });
});

describe('parseIndexText over bytes', () => {
  it('reports the right line across decoding windows', () => {
    const rec = formatIndexRecord(entry('x', '1-r0'));
    const count = Math.ceil((5 << 20) / rec.length);
    const text = rec.repeat(count) + 'C:Q1x\nbroken\n';
    const lines = rec.split('\n').length - 1;
    expect(() => parseIndexText(Buffer.from(text), 'big')).toThrow(
      `big:${count * lines + 2}: expected "X:value"`,
    );
    expect(parseIndexText(Buffer.from(rec.repeat(count)), 'big')).toHaveLength(count);
  });
});

describe('parseIndexText: repeated list fields', () => {
  it('appends repeated p:, D: and i: lines, as apk does', () => {
    const [r] = parseIndexText('C:Q1x\nP:a\nV:1-r0\np:x\np:so:y=1\nD:b\nD:c d\n\n', 'idx');
    expect(r!.provides).toEqual(['x', 'so:y=1']);
    expect(r!.depends).toEqual(['b', 'c', 'd']);
  });
});

describe('Keyring.load', () => {
  it('skips non-key files in a keys directory but rejects a bad key file named explicitly', async () => {
    const dir = tmp('keys-');
    writeFileSync(join(dir, 'test.rsa.pub'), (await testKey()).publicPem);
    writeFileSync(join(dir, 'README'), 'not a key');
    expect([...Keyring.load([dir]).keys.keys()]).toEqual(['test.rsa.pub']);
    expect(() => Keyring.load([join(dir, 'README')])).toThrow(/README is not a PEM public key/);
  });

  it('never trusts a private key (a keys directory that also holds the signing key): skipped, or refused when named', async () => {
    const dir = tmp('keys-');
    const k = await testKey();
    writeFileSync(join(dir, 'test.rsa.pub'), k.publicPem);
    writeFileSync(join(dir, 'test.rsa'), k.privatePem);
    expect([...Keyring.load([dir]).keys.keys()]).toEqual(['test.rsa.pub']);
    expect(() => Keyring.load([join(dir, 'test.rsa')])).toThrow(/test\.rsa is a private key/);
  });
});

describe('several signing keys', () => {
  it('puts every signature in one member; either key verifies', async () => {
    const other = signingKeyFromPem((await otherKey()).privatePem, 'other.rsa.pub');
    const buf = buildIndexArchive(
      { description: '', entries: [entry('a', '1-r0')] },
      { signingKey: [key, other] },
    );
    const first = parseTarSegment(
      gunzipSync(buf.subarray(0, buf.length - readIndexArchive(buf, 'x').signed.length)),
      's',
    );
    expect(first.map((e) => e.name)).toEqual(['.SIGN.RSA256.test.rsa.pub', '.SIGN.RSA256.other.rsa.pub']);
    expect(readIndexArchive(buf, 'x', { keyring }).signedBy).toBe('test.rsa.pub');
    const otherRing = new Keyring().add('other.rsa.pub', (await otherKey()).publicPem);
    expect(readIndexArchive(buf, 'x', { keyring: otherRing }).signedBy).toBe('other.rsa.pub');
  });
});

describe('IncrementalIndex after many edits', () => {
  it('always equals a fresh build of the same entries', async () => {
    const { IncrementalIndex } = await import('@melange2/apk');
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const inc = IncrementalIndex.open(join(tmp(), 'I'));
    const live = new Map<string, IndexEntry>();
    for (let round = 0; round < 30; round++) {
      for (let k = 0; k < 40; k++) {
        const e = entry(`p${rnd(400)}`, `1.${rnd(3)}-r0`, { fileSize: rnd(1000) });
        live.set(`${e.name}-${e.version}`, e);
        inc.addEntries([e]);
      }
      for (let k = 0; k < 10; k++) {
        const keys = [...live.keys()];
        const victim = live.get(keys[rnd(keys.length)]!)!;
        live.delete(`${victim.name}-${victim.version}`);
        inc.remove(victim.name, victim.version);
      }
      const fresh = buildIndexArchive({ description: '', entries: [...live.values()] });
      expect(inc.build().equals(fresh)).toBe(true);
    }
  });
});
