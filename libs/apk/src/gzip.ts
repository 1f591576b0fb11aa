import { crc32, gzipSync, inflateRawSync, constants as zc } from 'node:zlib';
import { ApkError } from './errors.js';
import { type LimitName, limitError } from './limits.js';

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
export function readGzipMember(
  buf: Buffer,
  where: string,
  opts: { lenientCrc?: boolean; limit?: MemberLimit } = {},
): GzipMember {
  const hdr = headerEnd(buf, where);
  let res: { buffer: Buffer; engine: { bytesWritten: number } };
  const lim = opts.limit;
  try {
    // zlib stops as soon as the output passes maxOutputLength: a bomb never inflates further.
    res = inflateRawSync(buf.subarray(hdr), {
      info: true,
      ...(lim && { maxOutputLength: Math.max(1, lim.max) }),
    }) as unknown as typeof res;
  } catch (e) {
    if (lim && isTooLarge(e)) throw limitError(lim.name, lim.max, where, lim.context ?? {}, e);
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

/** A cap on what one member may inflate to, and the named error when it does not hold. */
export interface MemberLimit {
  name: LimitName;
  max: number;
  context?: { file?: string; pkg?: string };
}

/** zlib's "output larger than maxOutputLength" error. */
export function isTooLarge(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ERR_BUFFER_TOO_LARGE';
}

/**
 * The first bytes the gzip member at `buf[0]` inflates to, from at most 512 compressed bytes
 * (more than a dynamic Huffman header ever takes), so the peek is bounded whatever the member
 * holds. Empty when the member cannot be peeked at: callers then take it for a control or index
 * member, whose own (larger, still bounded) limit applies.
 */
export function peekGzipMember(buf: Buffer, where: string, bytes: number): Buffer {
  const hdr = headerEnd(buf, where);
  try {
    return inflateRawSync(buf.subarray(hdr, hdr + 512), { finishFlush: zc.Z_SYNC_FLUSH }).subarray(0, bytes);
  } catch {
    return Buffer.alloc(0);
  }
}
