/**
 * Hand-rolled codecs for the two hot messages of a session: the tunnel's `BytesMessage` and
 * fsutil's `Packet`/`Stat`. They carry every byte of every synced or exported file, so they avoid
 * protobufjs' object round trips and copy payloads at most once. Field numbers as fsutil.proto.
 */

export enum PacketType {
  STAT = 0,
  REQ = 1,
  DATA = 2,
  FIN = 3,
  ERR = 4,
}

export interface Stat {
  path: string;
  /** Go os.FileMode bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Nanoseconds since the epoch. */
  modTime: bigint;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, Buffer>;
}

export interface Packet {
  type: PacketType;
  stat?: Stat;
  id: number;
  data?: Buffer;
}

class Out {
  readonly parts: Buffer[] = [];
  #head: number[] = [];

  #flush(): void {
    if (this.#head.length) {
      this.parts.push(Buffer.from(this.#head));
      this.#head = [];
    }
  }

  varint(v: number | bigint): void {
    if (typeof v === 'number' && v >= 0 && v < 0x80000000) {
      let x = v;
      while (x > 0x7f) {
        this.#head.push((x & 0x7f) | 0x80);
        x >>>= 7;
      }
      this.#head.push(x);
      return;
    }
    let n = BigInt.asUintN(64, BigInt(v));
    while (n > 0x7fn) {
      this.#head.push(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.#head.push(Number(n));
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  /** A varint field, omitted when zero (proto3). */
  uint(field: number, v: number | bigint): void {
    if (v === 0 || v === 0n) return;
    this.tag(field, 0);
    this.varint(v);
  }

  bytes(field: number, b: Buffer, always = false): void {
    if (b.length === 0 && !always) return;
    this.tag(field, 2);
    this.varint(b.length);
    this.#flush();
    this.parts.push(b);
  }

  string(field: number, s: string): void {
    if (s !== '') this.bytes(field, Buffer.from(s, 'utf8'));
  }

  finish(): Buffer {
    this.#flush();
    return this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
  }
}

class In {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('protobuf: truncated varint');
      const b = this.buf[this.pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('protobuf: varint too long');
    }
  }

  /** A varint that fits a JS number (lengths, tags, uint32). */
  small(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('protobuf: truncated varint');
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
      if (mul > 2 ** 63) throw new Error('protobuf: varint too long');
    }
  }

  int64(): number {
    return Number(BigInt.asIntN(64, this.varint()));
  }

  bytes(): Buffer {
    const len = this.small();
    if (this.pos + len > this.buf.length) throw new Error('protobuf: truncated bytes');
    const b = this.buf.subarray(this.pos, this.pos + len);
    this.pos += len;
    return b;
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.bytes();
    else if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }
}

export function decodeBytesMessage(buf: Buffer): Buffer {
  const r = new In(buf);
  let data: Buffer = Buffer.alloc(0);
  while (!r.done()) {
    const tag = r.small();
    if (tag >>> 3 === 1 && (tag & 7) === 2) data = r.bytes();
    else r.skip(tag & 7);
  }
  return data;
}

export function encodeStat(s: Stat): Buffer {
  const o = new Out();
  o.string(1, s.path);
  o.uint(2, s.mode >>> 0);
  o.uint(3, s.uid);
  o.uint(4, s.gid);
  o.uint(5, s.size);
  o.uint(6, s.modTime);
  o.string(7, s.linkname);
  o.uint(8, s.devmajor);
  o.uint(9, s.devminor);
  for (const k of Object.keys(s.xattrs).sort()) {
    const e = new Out();
    e.string(1, k);
    e.bytes(2, s.xattrs[k] as Buffer);
    o.bytes(10, e.finish(), true);
  }
  return o.finish();
}

export function decodeStat(buf: Buffer): Stat {
  const s: Stat = {
    path: '',
    mode: 0,
    uid: 0,
    gid: 0,
    size: 0,
    modTime: 0n,
    linkname: '',
    devmajor: 0,
    devminor: 0,
    xattrs: {},
  };
  const r = new In(buf);
  while (!r.done()) {
    const tag = r.small();
    const wire = tag & 7;
    switch (tag >>> 3) {
      case 1:
        s.path = r.bytes().toString('utf8');
        break;
      case 2:
        s.mode = Number(BigInt.asUintN(32, r.varint()));
        break;
      case 3:
        s.uid = r.small();
        break;
      case 4:
        s.gid = r.small();
        break;
      case 5:
        s.size = r.int64();
        break;
      case 6:
        s.modTime = BigInt.asIntN(64, r.varint());
        break;
      case 7:
        s.linkname = r.bytes().toString('utf8');
        break;
      case 8:
        s.devmajor = r.int64();
        break;
      case 9:
        s.devminor = r.int64();
        break;
      case 10: {
        const e = new In(r.bytes());
        let k = '';
        let v: Buffer = Buffer.alloc(0);
        while (!e.done()) {
          const t = e.small();
          if (t >>> 3 === 1) k = e.bytes().toString('utf8');
          else if (t >>> 3 === 2) v = Buffer.from(e.bytes());
          else e.skip(t & 7);
        }
        s.xattrs[k] = v;
        break;
      }
      default:
        r.skip(wire);
    }
  }
  return s;
}

export function encodePacket(p: Packet): Buffer {
  const o = new Out();
  o.uint(1, p.type);
  if (p.stat) o.bytes(2, encodeStat(p.stat), true);
  o.uint(3, p.id);
  if (p.data) o.bytes(4, p.data);
  return o.finish();
}

export function decodePacket(buf: Buffer): Packet {
  const p: Packet = { type: PacketType.STAT, id: 0 };
  const r = new In(buf);
  while (!r.done()) {
    const tag = r.small();
    switch (tag >>> 3) {
      case 1:
        p.type = r.small();
        break;
      case 2:
        p.stat = decodeStat(r.bytes());
        break;
      case 3:
        p.id = r.small();
        break;
      case 4:
        p.data = r.bytes();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  return p;
}

/** Room reserved in front of file data for a DATA packet's header (see `dataPacketInPlace`). */
export const DATA_HEADROOM = 16;

/**
 * Encodes DATA{id, data} where `buf[DATA_HEADROOM, DATA_HEADROOM + len)` already holds the data,
 * writing the header into the headroom: the file bytes are never copied.
 */
export function dataPacketInPlace(buf: Buffer, id: number, len: number): Buffer {
  const head: number[] = [0x08, PacketType.DATA];
  if (id !== 0) {
    head.push(0x18);
    let x = id;
    while (x > 0x7f) {
      head.push((x & 0x7f) | 0x80);
      x >>>= 7;
    }
    head.push(x);
  }
  head.push(0x22);
  let n = len;
  while (n > 0x7f) {
    head.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  head.push(n);
  const start = DATA_HEADROOM - head.length;
  if (start < 0) throw new Error('DATA header larger than its headroom');
  for (let i = 0; i < head.length; i++) buf[start + i] = head[i] as number;
  return buf.subarray(start, DATA_HEADROOM + len);
}
