/**
 * Decompression-bomb fixtures, made on the fly (no committed binaries): gzip members whose
 * inflated size is far larger than their compressed size. The inflated bytes are streamed through
 * zlib from one reused zero buffer, so making a 2 GB bomb never holds 2 GB.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createGzip } from 'node:zlib';
import { type SigningKey, signData } from '@melange2/apk';
import { encodeEntry, gzipMember, identityOf, readGzipMember, type TarHeader } from '@melange2/apk/internal';

const ZEROS = Buffer.alloc(1 << 20);
/** A last non-zero byte, so nothing but the size tells a bomb from a (huge) real entry. */
const X = Buffer.from('x');

/** One gzip member (level 9) of `head`, then `zeros` zero bytes, then `tail`. */
async function gzipWithZeros(head: Buffer, zeros: number, tail = Buffer.alloc(0)): Promise<Buffer> {
  const gz = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const done = once(gz, 'end');
  const write = async (b: Buffer) => {
    if (!gz.write(b)) await once(gz, 'drain');
  };
  await write(head);
  for (let left = zeros; left > 0; left -= ZEROS.length)
    await write(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
  await write(tail);
  gz.end();
  await done;
  return Buffer.concat(out);
}

const entry = (name: string): Omit<TarHeader, 'size'> => ({
  name,
  type: 'file',
  mode: 0o644,
  mtime: 0,
  uid: 0,
  gid: 0,
  uname: 'root',
  gname: 'root',
});

/** A tar header for `name` announcing `size` bytes of content (which the caller streams). */
function header(name: string, size: number): Buffer {
  // encodeEntry of empty content gives the header block; its size field is patched to `size`.
  const h = Buffer.from(encodeEntry(entry(name)).subarray(0, 512));
  h.write(`${size.toString(8).padStart(11, '0')}\u0000`, 124, 12, 'ascii');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return h;
}

/** The three members of a package made by packApk: signature (maybe empty), control, data. */
export function splitApk(file: string): { sig: Buffer; ctl: Buffer; data: Buffer } {
  const buf = readFileSync(file);
  const first = readGzipMember(buf, file);
  const name = first.content.subarray(0, 6).toString('latin1');
  const sigLen = name === '.SIGN.' ? first.length : 0;
  const ctlLen = readGzipMember(buf.subarray(sigLen), file).length;
  return {
    sig: buf.subarray(0, sigLen),
    ctl: buf.subarray(sigLen, sigLen + ctlLen),
    data: buf.subarray(sigLen + ctlLen),
  };
}

function signatureFor(key: SigningKey, signed: Buffer): Buffer {
  // No EOF blocks: apk rejects a signature segment that has them.
  return gzipMember(encodeEntry(entry(`.SIGN.RSA256.${key.publicName}`), signData(key, signed)));
}

export type BombKind = 'signature' | 'control' | 'pkginfo';

/**
 * Writes to `out` the package `base` (a packApk output) with one member replaced by a bomb:
 * `signature`: a signature entry of `inflated` zero bytes; `control`: the control member gets a
 * `.post-install` of `inflated` zero bytes (re-signed with `key`); `pkginfo`: `.PKGINFO` itself
 * is `inflated` bytes. Returns the package's `C:` identity (of its control member).
 */
export async function writeBombApk(
  base: string,
  out: string,
  kind: BombKind,
  inflated: number,
  key?: SigningKey,
): Promise<{ checksum: string; size: number }> {
  const { ctl, data } = splitApk(base);
  let parts: Buffer[];
  let control = ctl;
  if (kind === 'signature') {
    const name = `.SIGN.RSA256.${key?.publicName ?? 'bomb.rsa.pub'}`;
    parts = [await gzipWithZeros(header(name, inflated), inflated - 1, X), ctl, data];
  } else {
    const pkginfo = readGzipMember(ctl, base).content;
    control =
      kind === 'control'
        ? await gzipWithZeros(Buffer.concat([pkginfo, header('.post-install', inflated)]), inflated - 1, X)
        : await gzipWithZeros(header('.PKGINFO', inflated), inflated - 1, X);
    parts = [key ? signatureFor(key, control) : Buffer.alloc(0), control, data];
  }
  const bytes = Buffer.concat(parts);
  writeFileSync(out, bytes);
  return { checksum: identityOf(control), size: bytes.length };
}

/** An APKINDEX.tar.gz whose APKINDEX entry is `inflated` zero bytes (unsigned, or signed by `key`). */
export async function writeIndexBomb(out: string, inflated: number, key?: SigningKey): Promise<number> {
  const idx = await gzipWithZeros(
    Buffer.concat([encodeEntry(entry('DESCRIPTION'), Buffer.from('bomb')), header('APKINDEX', inflated)]),
    inflated - 1,
    X,
  );
  const bytes = key ? Buffer.concat([signatureFor(key, idx), idx]) : idx;
  writeFileSync(out, bytes);
  return bytes.length;
}
