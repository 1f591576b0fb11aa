/**
 * The few APKINDEX fields `plan --published` needs (P:, V:, A:), read from `APKINDEX.tar.gz`, an
 * uncompressed tar, or a bare `APKINDEX` text file.
 *
 * Small on purpose: libs/apk owns APKINDEX handling; this stays until it exports an index reader.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export class PublishedIndexError extends Error {
  override readonly name = 'PublishedIndexError';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/** `name` → set of `version` (`1.2.3-r0`) per arch; entries without `A:` count for every arch. */
export class PublishedIndex {
  private readonly byKey = new Set<string>();
  count = 0;

  add(name: string, version: string, arch: string | undefined): void {
    this.byKey.add(`${name}\0${version}\0${arch ?? '*'}`);
    this.count++;
  }

  has(name: string, fullVersion: string, arch: string): boolean {
    return this.byKey.has(`${name}\0${fullVersion}\0${arch}`) || this.byKey.has(`${name}\0${fullVersion}\0*`);
  }
}

function untar(buf: Buffer, file: string): Buffer | undefined {
  for (let off = 0; off + 512 <= buf.length; ) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) return undefined;
    const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    const sizeText = header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim();
    const size = Number.parseInt(sizeText || '0', 8);
    if (!Number.isFinite(size)) throw new PublishedIndexError(file, `bad tar header at offset ${off}`);
    const body = off + 512;
    if (name === 'APKINDEX') return buf.subarray(body, body + size);
    off = body + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

/** Parses APKINDEX text: blank-line separated records of `X:value` lines. */
export function parseApkindexText(text: string, into: PublishedIndex, file = 'APKINDEX'): void {
  let p: string | undefined;
  let v: string | undefined;
  let a: string | undefined;
  const flush = () => {
    if (p !== undefined && v !== undefined) into.add(p, v, a);
    else if (p !== undefined || v !== undefined)
      throw new PublishedIndexError(file, `record for ${p ?? '?'} lacks P: or V:`);
    p = v = a = undefined;
  };
  for (const line of text.split('\n')) {
    if (line === '') flush();
    else if (line.startsWith('P:')) p = line.slice(2);
    else if (line.startsWith('V:')) v = line.slice(2);
    else if (line.startsWith('A:')) a = line.slice(2);
  }
  flush();
}

export function readPublishedIndex(files: readonly string[]): PublishedIndex {
  const idx = new PublishedIndex();
  for (const file of files) {
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (e) {
      throw new PublishedIndexError(file, `cannot read: ${(e as Error).message}`);
    }
    if (buf[0] === 0x1f && buf[1] === 0x8b) {
      try {
        // Node decodes concatenated gzip members (signature + index) as one stream.
        buf = gunzipSync(buf);
      } catch (e) {
        throw new PublishedIndexError(file, `not a valid gzip file: ${(e as Error).message}`);
      }
    }
    const isTar = buf.length >= 512 && buf.subarray(257, 262).toString('latin1') === 'ustar';
    const text = isTar ? untar(buf, file)?.toString('utf8') : buf.toString('utf8');
    if (text === undefined) throw new PublishedIndexError(file, 'no APKINDEX member in the archive');
    if (!isTar && !/^[A-Za-z]:/.test(text))
      throw new PublishedIndexError(file, 'not an APKINDEX (expected "P:" records)');
    parseApkindexText(text, idx, file);
  }
  return idx;
}
