/**
 * Writing `APKINDEX.tar.gz` incrementally: records kept pre-formatted in order, compressed in
 * content-defined chunks that a later save reuses when they did not change.
 */

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { constants as zc, crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { ApkError } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import type { Keyring } from './keys.js';
import { type SigningKeys, signatureMember, sourceDateEpoch } from './pack.js';
import { encodeEntry, encodeHeader, EOF_BLOCKS, padding } from './tar.js';
import { indexEntryFromApk, readIndexFile } from './index-archive.js';
import { type ApkIndex, compareEntries, formatIndexRecord, type IndexEntry } from './index-text.js';

interface CachedRecord {
  entry: IndexEntry;
  bytes: Buffer;
  boundary: boolean;
}

interface CachedChunk {
  count: number;
  last: CachedRecord;
  deflated: Buffer;
  crc: number;
  len: number;
}

function cachedRecord(entry: IndexEntry): CachedRecord {
  const h = createHash('sha1').update(entry.name).update('\0').update(entry.version).digest();
  return { entry, bytes: Buffer.from(formatIndexRecord(entry)), boundary: (h[0]! & 63) === 0 };
}

/** CRC-32 of A‖B from crc(A), crc(B) and len(B) (zlib's crc32_combine, GF(2) matrix method). */
export function crc32Combine(crcA: number, crcB: number, lenB: number): number {
  if (lenB <= 0) return crcA >>> 0;
  const gf2Times = (mat: Uint32Array, vec: number) => {
    let sum = 0;
    let i = 0;
    while (vec) {
      if (vec & 1) sum ^= mat[i]!;
      vec >>>= 1;
      i++;
    }
    return sum >>> 0;
  };
  const square = (sq: Uint32Array, mat: Uint32Array) => {
    for (let n = 0; n < 32; n++) sq[n] = gf2Times(mat, mat[n]!);
  };
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = 0xedb88320;
  let row = 1;
  for (let n = 1; n < 32; n++) {
    odd[n] = row;
    row <<= 1;
  }
  square(even, odd);
  square(odd, even);
  let a = crcA >>> 0;
  let len = lenB;
  do {
    square(even, odd);
    if (len & 1) a = gf2Times(even, a);
    len = Math.floor(len / 2);
    if (len === 0) break;
    square(odd, even);
    if (len & 1) a = gf2Times(odd, a);
    len = Math.floor(len / 2);
  } while (len !== 0);
  return (a ^ crcB) >>> 0;
}

/**
 * A publisher's index kept open across additions: records stay parsed and pre-formatted in sorted
 * order, so adding a package costs one .apk read, one binary-search insert and one re-gzip.
 */
export class IncrementalIndex {
  private records: CachedRecord[] = [];

  private constructor(
    readonly path: string,
    public description: string,
  ) {}

  /** An in-memory index (not tied to a file until `save` is given one). */
  static fromIndex(index: ApkIndex, path = ''): IncrementalIndex {
    const idx = new IncrementalIndex(path, index.description);
    idx.records = [...index.entries].sort(compareEntries).map(cachedRecord);
    return idx;
  }

  /** Opens `path` (verifying it with `keyring` when given); a missing file starts an empty index. */
  static open(path: string, opts: { keyring?: Keyring; description?: string } = {}): IncrementalIndex {
    const idx = new IncrementalIndex(path, opts.description ?? '');
    if (existsSync(path)) {
      const r = readIndexFile(path, opts.keyring ? { keyring: opts.keyring } : {});
      if (opts.description === undefined) idx.description = r.index.description;
      idx.records = r.index.entries.sort(compareEntries).map(cachedRecord);
      idx.adoptPieces(r.signed, r.index.description);
    }
    return idx;
  }

  /** How many record chunks `open` took over compressed from the file (for tests and benchmarks). */
  adoptedChunks = 0;

  /**
   * Takes over the compressed chunks of an index member this writer produced (one full-flushed
   * deflate piece per content-defined chunk), so a save after a small change recompresses only the
   * chunks that changed. A piece is adopted only when it inflates on its own to exactly the chunk's
   * text, so the result is a valid index whatever wrote the file; anything else (apk-tools' single
   * stream, another level) simply leaves the chunks to be compressed again.
   */
  private adoptPieces(member: Buffer, description: string, level = 6): void {
    const hdr = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    if (member.length < 18 || !member.subarray(0, 10).equals(hdr)) return;
    const flush = Buffer.from([0, 0, 0xff, 0xff]);
    const descLen = Buffer.byteLength(description);
    const headLen = 512 + descLen + ((512 - (descLen % 512)) % 512) + 512;
    /** The end of the piece at `off` that inflates to `want` bytes (equal to `text` when given). */
    const pieceEnd = (off: number, want: number, text?: Buffer): number | undefined => {
      for (let at = member.indexOf(flush, off); at >= 0; at = member.indexOf(flush, at + 1)) {
        let out: Buffer;
        try {
          // A piece that inflates past its chunk is not ours: zlib stops there (throws) instead.
          out = inflateRawSync(member.subarray(off, at + 4), {
            finishFlush: zc.Z_SYNC_FLUSH,
            maxOutputLength: want + 1,
          });
        } catch {
          return undefined;
        }
        if (out.length > want) return undefined;
        if (out.length === want) return !text || out.equals(text) ? at + 4 : undefined;
      }
      return undefined;
    };
    let off = pieceEnd(10, headLen);
    if (off === undefined) return;
    const adopted = new Map<CachedRecord, CachedChunk>();
    for (const c of this.chunkRecords()) {
      const text = Buffer.concat(c.map((r) => r.bytes));
      const end = pieceEnd(off, text.length, text);
      if (end === undefined) break;
      adopted.set(c[0]!, {
        count: c.length,
        last: c[c.length - 1]!,
        deflated: member.subarray(off, end),
        crc: crc32(text),
        len: text.length,
      });
      off = end;
    }
    this.chunks = adopted;
    this.chunkLevel = level;
    this.adoptedChunks = adopted.size;
  }

  get entries(): IndexEntry[] {
    return this.records.map((r) => r.entry);
  }

  private position(e: IndexEntry): { at: number; same: boolean } {
    let lo = 0;
    let hi = this.records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareEntries(this.records[mid]!.entry, e) < 0) lo = mid + 1;
      else hi = mid;
    }
    const at = this.records[lo];
    return { at: lo, same: at !== undefined && compareEntries(at.entry, e) === 0 };
  }

  /** Adds or replaces (same name, version and arch) entries. */
  addEntries(entries: readonly IndexEntry[]): void {
    for (const e of entries) {
      const { at, same } = this.position(e);
      const rec = cachedRecord(e);
      this.dirty.add(rec);
      this.records.splice(at, same ? 1 : 0, rec);
    }
  }

  /** Reads the given .apk files (only those) and adds them. */
  async add(
    apks: readonly string[],
    opts: { keyring?: Keyring; rewriteArch?: string } = {},
  ): Promise<IndexEntry[]> {
    const entries = await Promise.all(apks.map((p) => indexEntryFromApk(p, opts)));
    this.addEntries(entries);
    return entries;
  }

  remove(name: string, version: string, arch?: string): boolean {
    const before = this.records.length;
    this.records = this.records.filter(
      (r) =>
        !(
          r.entry.name === name &&
          r.entry.version === version &&
          (arch === undefined || r.entry.arch === arch)
        ),
    );
    return this.records.length !== before;
  }

  /**
   * The archive bytes. The index member is one gzip member whose deflate stream is a concatenation
   * of independently compressed, full-flushed pieces (chunks of records, content-defined), so a
   * save recompresses only the chunks that changed. The output depends only on the content.
   */
  build(opts: { signingKey?: SigningKeys; sourceDateEpoch?: number; level?: number } = {}): Buffer {
    const mtime = sourceDateEpoch(opts.sourceDateEpoch);
    const level = opts.level ?? 6;
    if (level !== this.chunkLevel) {
      this.chunks.clear();
      this.chunkLevel = level;
    }
    const base = { type: 'file' as const, mode: 0o644, mtime, uid: 0, gid: 0, uname: 'root', gname: 'root' };
    const chunks = this.chunkRecords();
    let textLen = 0;
    for (const r of this.records) textLen += r.bytes.length;
    const head = Buffer.concat([
      encodeEntry({ ...base, name: 'DESCRIPTION' }, Buffer.from(this.description)),
      encodeHeader({ ...base, name: 'APKINDEX', size: textLen }),
    ]);
    const tail = Buffer.concat([padding(textLen), EOF_BLOCKS]);
    const pieces: Buffer[] = [deflateRawSync(head, { level, finishFlush: zc.Z_FULL_FLUSH })];
    let crc = crc32(head);
    const fresh = new Map<CachedRecord, CachedChunk>();
    for (const c of chunks) {
      const first = c[0]!;
      const last = c[c.length - 1]!;
      let cached = this.chunks.get(first);
      if (!cached || cached.count !== c.length || cached.last !== last || c.some((r) => this.dirty.has(r))) {
        const text = Buffer.concat(c.map((r) => r.bytes));
        cached = {
          count: c.length,
          last,
          deflated: deflateRawSync(text, { level, finishFlush: zc.Z_FULL_FLUSH }),
          crc: crc32(text),
          len: text.length,
        };
      }
      fresh.set(first, cached);
      pieces.push(cached.deflated);
      crc = crc32Combine(crc, cached.crc, cached.len);
    }
    this.chunks = fresh;
    this.dirty.clear();
    pieces.push(deflateRawSync(tail, { level }));
    crc = crc32(tail, crc);
    const total = head.length + textLen + tail.length;
    const hdr = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, level === 9 ? 2 : level === 1 ? 4 : 0, 3]);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(crc >>> 0, 0);
    trailer.writeUInt32LE(total >>> 0, 4);
    const idx = Buffer.concat([hdr, ...pieces, trailer]);
    const sig = signatureMember(opts.signingKey, idx, mtime);
    return sig.length ? Buffer.concat([sig, idx]) : idx;
  }

  private chunks = new Map<CachedRecord, CachedChunk>();
  private chunkLevel = -1;
  private readonly dirty = new Set<CachedRecord>();

  /** Content-defined chunks: a record whose name+version hashes to 0 mod 64 starts a new chunk. */
  private chunkRecords(): CachedRecord[][] {
    const out: CachedRecord[][] = [];
    let cur: CachedRecord[] = [];
    for (const r of this.records) {
      if (cur.length > 0 && (r.boundary || cur.length >= 512)) {
        out.push(cur);
        cur = [];
      }
      cur.push(r);
    }
    if (cur.length) out.push(cur);
    return out;
  }

  /** Writes the index atomically (temp file + rename). */
  save(
    opts: { signingKey?: SigningKeys; sourceDateEpoch?: number; level?: number; path?: string } = {},
  ): void {
    const path = opts.path ?? this.path;
    if (!path) throw new ApkError('io', 'IncrementalIndex.save: no path given');
    writeFileAtomic(path, this.build(opts));
  }
}
