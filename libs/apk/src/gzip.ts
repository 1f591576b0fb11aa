import { crc32, gzipSync, inflateRawSync } from 'node:zlib';
import { ApkError } from './errors.js';

/** One gzip member at the front of a buffer: its compressed length and its content. */
export interface GzipMember {
  length: number;
  content: Buffer;
  /** False only with `lenientCrc`, when the trailer does not match the content. */
  crcOk: boolean;
}

/** Control and signature members use level 9: the same header bytes as `gzip -n -9`. */
export function gzipMember(data: Buffer, level = 9): Buffer {
  return gzipSync(data, { level });
}

function headerEnd(buf: Buffer, where: string): number {
  if (buf.length < 10) throw new ApkError('truncated', `${where}: gzip header cut short`);
  if (buf[0] !== 0x1f || buf[1] !== 0x8b || buf[2] !== 8) {
    throw new ApkError('bad-gzip', `${where}: not a gzip member (bad magic)`);
  }
  const flg = buf[3]!;
  let off = 10;
  if (flg & 4) off += 2 + buf.readUInt16LE(off);
  const skipZ = () => {
    const z = buf.indexOf(0, off);
    if (z < 0) throw new ApkError('truncated', `${where}: gzip header cut short`);
    off = z + 1;
  };
  if (flg & 8) skipZ();
  if (flg & 16) skipZ();
  if (flg & 2) off += 2;
  if (off > buf.length) throw new ApkError('truncated', `${where}: gzip header cut short`);
  return off;
}

/**
 * Decodes the gzip member that starts at `buf[0]` and reports how many compressed bytes it spans,
 * so members can be hashed and split exactly. Throws `truncated` when `buf` ends inside it (the
 * caller may retry with more bytes), `bad-gzip` for corruption, including a CRC32/ISIZE mismatch.
 */
export function readGzipMember(buf: Buffer, where: string, opts: { lenientCrc?: boolean } = {}): GzipMember {
  const hdr = headerEnd(buf, where);
  let res: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    res = inflateRawSync(buf.subarray(hdr), { info: true }) as unknown as typeof res;
  } catch (e) {
    const msg = (e as Error).message;
    if (/unexpected end/i.test(msg))
      throw new ApkError('truncated', `${where}: gzip data cut short`, {}, { cause: e });
    throw new ApkError('bad-gzip', `${where}: corrupt gzip data (${msg})`, {}, { cause: e });
  }
  const end = hdr + res.engine.bytesWritten;
  if (end + 8 > buf.length) throw new ApkError('truncated', `${where}: gzip trailer cut short`);
  const crc = buf.readUInt32LE(end);
  const isize = buf.readUInt32LE(end + 4);
  const crcOk = crc === crc32(res.buffer) && isize === res.buffer.length >>> 0;
  if (!crcOk && !opts.lenientCrc) {
    throw new ApkError('bad-gzip', `${where}: gzip CRC or length mismatch`);
  }
  return { length: end + 8, content: res.buffer, crcOk };
}
