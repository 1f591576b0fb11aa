// Gzip bombs and oversized members: each fails with its named limit error, with flat memory.
// The bombs are made here by streaming zlib (300 MB of zeros is ~300 KB compressed), so neither
// the test nor the code under test ever holds the inflated bytes.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { crc32, deflateRawSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addToIndexFile,
  ApkError,
  buildIndexArchive,
  DEFAULT_LIMITS,
  detectArchiveKind,
  IncrementalIndex,
  indexEntryFromApk,
  installPackages,
  Keyring,
  loadRepository,
  packageInfo,
  packApk,
  publishPackages,
  readApkData,
  readApkHead,
  readIndexFile,
  type SigningKey,
  signingKeyFromPem,
  TAR_EXTENDED_HEADER_LIMIT,
  verifyApk,
} from '@melange2/apk';
import { encodeEntry, EOF_BLOCKS, gzipMember, readGzipMember } from '@melange2/apk/internal';
import { type BombKind, splitApk, writeBombApk, writeIndexBomb } from './bombs.js';
import { testKey, tmp, tree } from './helpers.js';

const MB = 1 << 20;
const BOMB = 300 * MB;
/** Generous: the point is flat memory (the bombs inflate to 300+ MB), not an exact figure. */
const FLAT = 64 * MB;

let key: SigningKey;
let keyring: Keyring;
let base: string;

beforeAll(async () => {
  const kp = await testKey();
  key = signingKeyFromPem(kp.privatePem, 'test.rsa.pub');
  keyring = new Keyring().add('test.rsa.pub', kp.publicPem);
  base = join(tmp(), 'base.apk');
  await packApk({
    dir: tree(tmp(), { 'usr/bin/hi': 'hi\n' }),
    info: packageInfo({ name: 'bomb', version: '1-r0', arch: 'x86_64' }),
    signingKey: key,
    output: base,
  });
});

/** Runs `fn`, expecting it to throw; returns the error and how much RSS (now and peak) grew. */
async function measure(fn: () => Promise<unknown>): Promise<{ error: unknown; rss: number; peak: number }> {
  const rss0 = process.memoryUsage().rss;
  const peak0 = process.resourceUsage().maxRSS * 1024;
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  return {
    error,
    rss: process.memoryUsage().rss - rss0,
    peak: process.resourceUsage().maxRSS * 1024 - peak0,
  };
}

async function bomb(
  kind: BombKind,
  inflated = BOMB,
): Promise<{ file: string; checksum: string; dir: string }> {
  const dir = tmp();
  mkdirSync(join(dir, 'x86_64'));
  const file = join(dir, 'x86_64', 'bomb-1-r0.apk');
  const { checksum } = await writeBombApk(base, file, kind, inflated, key);
  return { file, checksum, dir };
}

function expectLimit(r: { error: unknown; rss: number; peak: number }, code: string, ...words: string[]) {
  expect(r.error).toBeInstanceOf(ApkError);
  expect((r.error as ApkError).code).toBe(code);
  for (const w of words) expect((r.error as Error).message).toContain(w);
  expect(r.rss).toBeLessThan(FLAT);
  expect(r.peak).toBeLessThan(FLAT);
}

describe('a package whose signature member is a gzip bomb', () => {
  it('fails verify, index and readApkHead with limit-signature, naming the file and the limit', async () => {
    const { file } = await bomb('signature');
    expectLimit(
      await measure(() => verifyApk(file, { keyring })),
      'limit-signature',
      file,
      'signature member',
      '64 KiB',
    );
    expectLimit(await measure(() => indexEntryFromApk(file)), 'limit-signature');
    expectLimit(await measure(() => readApkHead(file)), 'limit-signature');
    expectLimit(await measure(() => detectArchiveKind(file)), 'limit-signature');
  });

  it('is told from a control member by a peek, also when it is a real one of a few hundred bytes', async () => {
    // A real signature member inflates to 1 KiB: over a 100-byte limit only if it was recognised
    // as a signature member (a control member would have the 4 MiB limit).
    await expect(readApkHead(base, { limits: { signature: 100 } })).rejects.toMatchObject({
      code: 'limit-signature',
    });
    await expect(readApkHead(base, { limits: { control: 100 } })).rejects.toMatchObject({
      code: 'limit-control',
    });
    expect((await readApkHead(base)).info.name).toBe('bomb');
  });

  it('fails publishPackages (the coordinator publishes through indexEntryFromApk) and writes no index', async () => {
    const { file } = await bomb('signature');
    const repo = tmp();
    const r = await measure(() => publishPackages({ repoDir: repo, arch: 'x86_64', apks: [file] }));
    expectLimit(r, 'limit-signature');
    expect(existsSync(join(repo, 'x86_64', 'APKINDEX.tar.gz'))).toBe(false);
  });
});

describe('a package whose control member is a gzip bomb', () => {
  it('fails verify, index and addToIndexFile with limit-control before inflating it', async () => {
    const { file } = await bomb('control');
    expectLimit(
      await measure(() => verifyApk(file, { keyring })),
      'limit-control',
      file,
      'control member',
      '4 MiB',
    );
    expectLimit(
      await measure(() => addToIndexFile(join(tmp(), 'APKINDEX.tar.gz'), [file], { fresh: true })),
      'limit-control',
    );
  });

  it('fails the installer with limit-control, naming the package', async () => {
    const { checksum, dir } = await bomb('control');
    const entry = {
      ...packageInfo({ name: 'bomb', version: '1-r0', arch: 'x86_64' }),
      checksum,
      fileSize: 1,
    };
    const r = await measure(() =>
      installPackages({
        packages: [{ entry, repository: 0 }],
        repositories: [{ url: dir }],
        arch: 'x86_64',
        world: ['bomb'],
        cacheDir: tmp(),
      }),
    );
    expectLimit(r, 'limit-control', 'bomb-1-r0');
  });

  it('is refused when it needs more compressed bytes than its limit allows (read no further)', async () => {
    // 5 MiB of empty stored deflate blocks, then a real control segment: a valid member that
    // inflates to little, but that no 4 MiB member needs that much input for.
    const { ctl, data } = splitApk(base);
    const content = readGzipMember(ctl, 'ctl').content;
    const empty = Buffer.from([0, 0, 0, 0xff, 0xff]);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc32(content), 0);
    trailer.writeUInt32LE(content.length, 4);
    const padded = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]),
      Buffer.concat(Array.from({ length: (5 * MB) / empty.length }, () => empty)),
      deflateRawSync(content),
      trailer,
    ]);
    expect(gunzipSync(padded)).toEqual(content);
    const file = join(tmp(), 'padded.apk');
    // Unsigned: the padded control member comes first.
    writeFileSync(file, Buffer.concat([padded, data]));
    await expect(readApkHead(file)).rejects.toMatchObject({ code: 'limit-control' });
  });

  it('a caller may lower the limit (and a package just under it still reads)', async () => {
    const { file } = await bomb('control', 2 * MB);
    await expect(verifyApk(file, { keyring })).resolves.toBeDefined();
    await expect(verifyApk(file, { keyring, limits: { control: MB } })).rejects.toMatchObject({
      code: 'limit-control',
    });
  });
});

describe('a .PKGINFO over its limit', () => {
  it('fails with limit-pkginfo, from the tar header size, before it is parsed', async () => {
    const { file } = await bomb('pkginfo', 2 * MB);
    expectLimit(
      await measure(() => verifyApk(file, { keyring })),
      'limit-pkginfo',
      file,
      '.PKGINFO',
      '1 MiB',
    );
    expectLimit(await measure(() => readApkHead(file)), 'limit-pkginfo');
  });
});

describe('an index bomb', () => {
  let server: Server | undefined;
  afterAll(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('fails readIndexFile, IncrementalIndex.open and resolve (loadRepository) with limit-index', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'x86_64'));
    const file = join(dir, 'x86_64', 'APKINDEX.tar.gz');
    await writeIndexBomb(file, BOMB, key);
    const limits = { index: 16 * MB };
    expectLimit(
      await measure(() => Promise.resolve().then(() => readIndexFile(file, { keyring, limits }))),
      'limit-index',
      file,
      'index member',
      '16 MiB',
    );
    expectLimit(
      await measure(() => loadRepository({ url: dir }, 'x86_64', { keyring, limits })),
      'limit-index',
    );
  });

  it('with the default limit, memory grows by at most the limit', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'x86_64'));
    const file = join(dir, 'x86_64', 'APKINDEX.tar.gz');
    await writeIndexBomb(file, DEFAULT_LIMITS.index + 64 * MB, key);
    const r = await measure(() => Promise.resolve().then(() => IncrementalIndex.open(file)));
    expect((r.error as ApkError).code).toBe('limit-index');
    expect(r.rss).toBeLessThan(DEFAULT_LIMITS.index + FLAT);
  });

  it('refuses a served index larger than the limit without reading it all', async () => {
    const big = Buffer.alloc(4 * MB, 1);
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      // Chunked (no Content-Length), so the streamed count is what stops it.
      res.write(big.subarray(0, 2 * MB));
      res.end(big.subarray(2 * MB));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await expect(loadRepository({ url }, 'x86_64', { keyring, limits: { index: MB } })).rejects.toMatchObject(
      { code: 'limit-index' },
    );
  });

  it('a legitimate index larger than the control limit is still told apart and read', async () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => ({
      ...packageInfo({ name: `p${i}`, version: '1.0-r0', arch: 'x86_64', description: 'x'.repeat(200) }),
      checksum: `Q1${Buffer.alloc(20, i % 251).toString('base64')}`,
      fileSize: 1000,
    }));
    const file = join(tmp(), 'APKINDEX.tar.gz');
    writeFileSync(file, buildIndexArchive({ description: 'big', entries }, { signingKey: key }));
    expect(await detectArchiveKind(file)).toBe('index');
    expect(readIndexFile(file, { keyring }).index.entries).toHaveLength(20_000);
    expect(await detectArchiveKind(base)).toBe('apk');
  });
});

describe('a data member with an oversized extended header', () => {
  it('fails readApkData with limit-tar-header, naming the file', async () => {
    const { sig, ctl } = splitApk(base);
    const pax = { comment: 'x'.repeat(TAR_EXTENDED_HEADER_LIMIT + MB) };
    const data = gzipMember(
      Buffer.concat([
        encodeEntry({ name: 'big', type: 'file', mode: 0o644, mtime: 0, pax }, Buffer.from('hi')),
        EOF_BLOCKS,
      ]),
    );
    const file = join(tmp(), 'pax.apk');
    writeFileSync(file, Buffer.concat([sig, ctl, data]));
    const head = await readApkHead(file);
    await expect(readApkData(head, async () => {})).rejects.toMatchObject({
      code: 'limit-tar-header',
      message: expect.stringContaining(`${file}: data member: extended header: over the 4 MiB limit`),
    });
  });
});
