/**
 * Minimal ustar/PAX encoder and a parser for small in-memory tar segments. We write headers ourselves
 * (rather than through tar-stream's pack) to control every byte: real names in the ustar header,
 * no EOF blocks where apk forbids them, no defaults taken from the clock.
 */
import { ApkError } from './errors.js';

export const BLOCK = 512;
export const EOF_BLOCKS = Buffer.alloc(2 * BLOCK);

type TarType = 'file' | 'directory' | 'symlink' | 'link';

export interface TarHeader {
  name: string;
  type: TarType;
  mode: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  size?: number;
  mtime: number;
  linkname?: string;
  pax?: Record<string, string>;
}

const TYPEFLAG: Record<TarType, string> = { file: '0', link: '1', symlink: '2', directory: '5' };

function octal(buf: Buffer, off: number, len: number, value: number): void {
  // len-1 octal digits plus NUL, as POSIX and Go write them.
  const s = value.toString(8).padStart(len - 1, '0');
  if (s.length > len - 1)
    throw new ApkError('bad-tar', `value ${value} does not fit a ${len}-byte tar field`);
  buf.write(s, off, len - 1, 'ascii');
  buf[off + len - 1] = 0;
}

function fits(s: string, max: number): boolean {
  return Buffer.byteLength(s) <= max && /^[\x20-\x7e]*$/.test(s);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body);
  let total = len + String(len).length;
  if (String(total).length !== String(len).length) total = len + String(total).length;
  len = total;
  return `${len}${body}`;
}

function ustar(h: TarHeader, name: string, linkname: string, typeflag: string, size: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(name, 0, 100, 'utf8');
  octal(b, 100, 8, h.mode & 0o7777);
  octal(b, 108, 8, h.uid ?? 0);
  octal(b, 116, 8, h.gid ?? 0);
  octal(b, 124, 12, size);
  octal(b, 136, 12, Math.max(0, Math.floor(h.mtime)));
  b.write(typeflag, 156, 1, 'ascii');
  b.write(linkname, 157, 100, 'utf8');
  b.write('ustar\u000000', 257, 8, 'ascii');
  b.write(h.uname ?? '', 265, 32, 'utf8');
  b.write(h.gname ?? '', 297, 32, 'utf8');
  octal(b, 329, 8, 0);
  octal(b, 337, 8, 0);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return b;
}

/** Zero padding after `size` bytes of entry content. */
export function padding(size: number): Buffer {
  const r = size % BLOCK;
  return r === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - r);
}

/**
 * Header block(s) for one entry: an `x` PAX header first when there are PAX records or the name or
 * link target does not fit ustar, then the ustar header carrying the (possibly truncated) real name.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const size = h.type === 'file' ? (h.size ?? 0) : 0;
  const linkname = h.linkname ?? '';
  const records: string[] = [];
  let name = h.name;
  let link = linkname;
  if (!fits(h.name, 100)) {
    records.push(paxRecord('path', h.name));
    name = Buffer.from(h.name)
      .subarray(0, 100)
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, '_');
  }
  if (!fits(linkname, 100)) {
    records.push(paxRecord('linkpath', linkname));
    link = Buffer.from(linkname)
      .subarray(0, 100)
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, '_');
  }
  for (const [k, v] of Object.entries(h.pax ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    records.push(paxRecord(k, v));
  }
  const main = ustar(h, name, link, TYPEFLAG[h.type], size);
  if (records.length === 0) return main;
  const body = Buffer.from(records.join(''), 'utf8');
  const xh = ustar({ ...h, mode: 0o644, uname: '', gname: '' }, 'PaxHeader', '', 'x', body.length);
  return Buffer.concat([xh, body, padding(body.length), main]);
}

/** A whole entry (header, content, padding) for small in-memory content. */
export function encodeEntry(h: Omit<TarHeader, 'size'>, content: Buffer = Buffer.alloc(0)): Buffer {
  return Buffer.concat([encodeHeader({ ...h, size: content.length }), content, padding(content.length)]);
}

export interface ParsedEntry {
  name: string;
  typeflag: string;
  mode: number;
  size: number;
  linkname: string;
  pax: Record<string, string>;
  content: Buffer;
}

function cstr(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

function num(b: Buffer, off: number, len: number, where: string): number {
  const s = cstr(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new ApkError('bad-tar', `${where}: bad octal field "${s}"`);
  return Number.parseInt(s, 8);
}

function parsePax(body: Buffer, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < body.length) {
    const sp = body.indexOf(0x20, off);
    const len = sp < 0 ? Number.NaN : Number(body.toString('ascii', off, sp));
    if (!Number.isInteger(len) || len <= 0 || off + len > body.length) {
      throw new ApkError('bad-tar', `${where}: malformed PAX record`);
    }
    const rec = body.toString('utf8', sp + 1, off + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

/**
 * Parses an in-memory tar segment (signature or control), with or without EOF blocks. Only PAX `x`
 * headers and GNU long names are interpreted; `where` names the segment in errors.
 */
export function parseTarSegment(buf: Buffer, where: string): ParsedEntry[] {
  const out: ParsedEntry[] = [];
  let off = 0;
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  while (off + BLOCK <= buf.length) {
    const h = buf.subarray(off, off + BLOCK);
    if (h[0] === 0) break;
    if (h.toString('ascii', 257, 262) !== 'ustar') {
      throw new ApkError('bad-tar', `${where}: entry at offset ${off} has no ustar magic`);
    }
    const size = num(h, 124, 12, where);
    const typeflag = String.fromCharCode(h[156] || 48);
    const dataStart = off + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > buf.length) throw new ApkError('truncated', `${where}: entry content runs past the end`);
    const content = buf.subarray(dataStart, dataEnd);
    off = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'x') {
      pax = parsePax(content, where);
      continue;
    }
    if (typeflag === 'g') continue;
    if (typeflag === 'L') {
      longName = cstr(content, 0, content.length);
      continue;
    }
    const prefix = cstr(h, 345, 155);
    let name = longName ?? pax['path'] ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
    if (name.endsWith('/')) name = name.slice(0, -1);
    out.push({
      name,
      typeflag,
      mode: num(h, 100, 8, where),
      size,
      linkname: pax['linkpath'] ?? cstr(h, 157, 100),
      pax,
      content,
    });
    pax = {};
    longName = undefined;
  }
  return out;
}
