import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { constants as zc, crc32, deflateRawSync, gunzipSync, inflateRawSync } from 'node:zlib';
import { ApkError } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import { readGzipMember } from './gzip.js';
import {
  checkSignatures,
  type Keyring,
  parseSignatureName,
  type SignatureAlg,
  type SignatureEntry,
} from './keys.js';
import { type SigningKeys, signatureMember, sourceDateEpoch } from './pack.js';
import type { PackageInfo } from './pkginfo.js';
import { readApkMembers, verifyApk } from './read.js';
import { encodeEntry, encodeHeader, EOF_BLOCKS, padding, parseTarSegment } from './tar.js';
import { compareVersions } from './version.js';

/** One package as an index lists it: its metadata plus identity and file size. */
export interface IndexEntry extends PackageInfo {
  /** `C:`: `Q1` + base64 SHA-1 of the control member. */
  checksum: string;
  /** `S:`: the .apk file's size in bytes. */
  fileSize: number;
}

export interface ApkIndex {
  description: string;
  entries: IndexEntry[];
}

/** One record in apk-tools' field order (`apk_pkg_write_index_header`), ending with a blank line. */
export function formatIndexRecord(e: IndexEntry): string {
  let s = `C:${e.checksum}\nP:${e.name}\nV:${e.version}\n`;
  if (e.arch) s += `A:${e.arch}\n`;
  s += `S:${e.fileSize}\nI:${e.size}\nT:${e.description ?? ''}\nU:${e.url ?? ''}\nL:${e.license ?? ''}\n`;
  if (e.origin) s += `o:${e.origin}\n`;
  if (e.maintainer) s += `m:${e.maintainer}\n`;
  if (e.builddate) s += `t:${e.builddate}\n`;
  if (e.commit) s += `c:${e.commit}\n`;
  if (e.providerPriority) s += `k:${e.providerPriority}\n`;
  if (e.depends.length) s += `D:${e.depends.join(' ')}\n`;
  if (e.provides.length) s += `p:${e.provides.join(' ')}\n`;
  if (e.installIf.length) s += `i:${e.installIf.join(' ')}\n`;
  return `${s}\n`;
}

function strcasecmp(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

/** `apk index` order: name case-insensitively (ties bytewise), then version ascending. */
function compareEntries(a: IndexEntry, b: IndexEntry): number {
  return (
    strcasecmp(a.name, b.name) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
    compareVersions(a.version, b.version) ||
    (a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0)
  );
}

function formatIndexText(entries: readonly IndexEntry[]): string {
  return [...entries].sort(compareEntries).map(formatIndexRecord).join('');
}

/**
 * The shared, frozen empty list of parsed index entries (most have no replaces, triggers or
 * install_if): 200,000 entries would otherwise carry 600,000 empty arrays. Copy before mutating.
 */
const NONE = Object.freeze([]) as unknown as string[];

const split = (v: string) =>
  v === '' ? NONE : v.includes('  ') ? v.split(' ').filter((x) => x !== '') : v.split(' ');

/**
 * Parses APKINDEX text. Unknown lowercase letters are ignored (as apk does); an unknown uppercase
 * letter, a line without `X:`, or a record without C/P/V is an error naming `where` and the line.
 */
export function parseIndexText(text: string | Buffer, where: string): IndexEntry[] {
  return typeof text === 'string' ? parseIndexString(text, where) : parseIndexBuffer(text, where);
}

/**
 * Decodes and parses in windows of under 1 MB cut at record boundaries, so a big index never
 * exists as one giant string next to its bytes.
 */
function parseIndexBuffer(buf: Buffer, where: string): IndexEntry[] {
  // Under 1 MB, so Node decodes onto the V8 heap instead of allocating external strings.
  const WINDOW = 960 << 10;
  const out: IndexEntry[] = [];
  const pool = new Map<string, string>();
  let pos = 0;
  while (pos < buf.length) {
    let end = Math.min(buf.length, pos + WINDOW);
    if (end < buf.length) {
      const cut = buf.lastIndexOf('\n\n', end);
      end = cut > pos ? cut + 2 : buf.indexOf('\n\n', end) < 0 ? buf.length : buf.indexOf('\n\n', end) + 2;
    }
    const text = buf.toString('utf8', pos, end);
    let part: IndexEntry[];
    try {
      part = parseIndexString(text, where, 0, pool);
    } catch (e) {
      if (!(e instanceof ApkError) || e.context.line === undefined || pos === 0) throw e;
      // Line numbers restart per window: count the lines before it, only now that it matters.
      let before = 0;
      for (let i = buf.indexOf(10); i >= 0 && i < pos; i = buf.indexOf(10, i + 1)) before++;
      part = parseIndexString(text, where, before, pool);
    }
    for (const e of part) out.push(e);
    pos = end;
  }
  return out;
}

/**
 * Parses APKINDEX text. Unknown lowercase letters are ignored (as apk does); an unknown uppercase
 * letter, a line without `X:`, or a record without C/P/V is an error naming `where` and the line.
 */
function parseIndexString(
  text: string,
  where: string,
  lineBase = 0,
  pool = new Map<string, string>(),
): IndexEntry[] {
  const out: IndexEntry[] = [];
  // Values repeated across many records share one string instead of one slice each.
  const intern = (v: string) => {
    const got = pool.get(v);
    if (got !== undefined) return got;
    if (pool.size < 50_000) pool.set(v, v);
    return v;
  };
  let cur: IndexEntry | undefined;
  let started = 0;
  const bad = (line: number, msg: string): never => {
    throw new ApkError('bad-index', `${where}:${line + lineBase}: ${msg}`, {
      file: where,
      line: line + lineBase,
    });
  };
  const fresh = (): IndexEntry => ({
    checksum: '',
    name: '',
    version: '',
    arch: '',
    size: 0,
    fileSize: 0,
    depends: NONE,
    provides: NONE,
    replaces: NONE,
    installIf: NONE,
    triggers: NONE,
  });
  const finish = (line: number) => {
    if (!cur) return;
    if (!cur.checksum || !cur.name || !cur.version) {
      const missing = ['C', 'P', 'V'].filter((_k, i) => ![cur!.checksum, cur!.name, cur!.version][i]);
      bad(started, `record ending at line ${line} lacks ${missing.join(', ')}:`);
    }
    out.push(cur);
    cur = undefined;
  };
  let pos = 0;
  let lineNo = 0;
  const n = text.length;
  while (pos < n) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = n;
    lineNo++;
    if (end - pos < 2) {
      finish(lineNo);
      pos = end + 1;
      continue;
    }
    if (text.charCodeAt(pos + 1) !== 58 /* : */) {
      bad(lineNo, `expected "X:value", got "${text.slice(pos, Math.min(end, pos + 60))}"`);
    }
    if (!cur) {
      cur = fresh();
      started = lineNo;
    }
    const e = cur;
    const c = text.charCodeAt(pos);
    const v = text.slice(pos + 2, end);
    switch (c) {
      case 67 /* C */:
        e.checksum = v;
        break;
      case 80 /* P */:
        e.name = v;
        break;
      case 86 /* V */:
        e.version = v;
        break;
      case 65 /* A */:
        e.arch = intern(v);
        break;
      case 83 /* S */:
        e.fileSize = +v;
        break;
      case 73 /* I */:
        e.size = +v;
        break;
      case 84 /* T */:
        e.description = v;
        break;
      case 85 /* U */:
        e.url = intern(v);
        break;
      case 76 /* L */:
        e.license = intern(v);
        break;
      case 111 /* o */:
        e.origin = v;
        break;
      case 109 /* m */:
        e.maintainer = intern(v);
        break;
      case 116 /* t */:
        e.builddate = +v;
        break;
      case 99 /* c */:
        e.commit = v;
        break;
      case 107 /* k */:
        e.providerPriority = +v;
        break;
      // apk appends when a list field repeats.
      case 68 /* D */:
        e.depends = e.depends.length ? [...e.depends, ...split(v)] : split(v);
        break;
      case 112 /* p */:
        e.provides = e.provides.length ? [...e.provides, ...split(v)] : split(v);
        break;
      case 105 /* i */:
        e.installIf = e.installIf.length ? [...e.installIf, ...split(v)] : split(v);
        break;
      default:
        if (c >= 65 && c <= 90)
          bad(lineNo, `unknown field "${text[pos]}:" (apk marks such packages uninstallable)`);
    }
    pos = end + 1;
  }
  finish(lineNo + 1);
  return out;
}

/**
 * `APKINDEX.tar.gz` bytes: signature member (RSA256 over the index member) when a key is given.
 * Built the same way as IncrementalIndex, so equal content gives equal bytes either way.
 */
export function buildIndexArchive(
  index: ApkIndex,
  opts: { signingKey?: SigningKeys; sourceDateEpoch?: number; level?: number } = {},
): Buffer {
  return IncrementalIndex.fromIndex(index).build(opts);
}

export interface IndexArchive {
  index: ApkIndex;
  signatures: SignatureEntry[];
  /** The bytes after the signature member: what index signatures cover. */
  signed: Buffer;
  signedBy?: string;
}

/**
 * Reads an `APKINDEX.tar.gz`. With a keyring the signature must verify (apk's rule: the first
 * signature whose key is known decides); without one, signatures are returned unchecked.
 */
function firstNameIsSignature(buf: Buffer, where: string): boolean {
  if (buf.length < 18 || buf[0] !== 0x1f || buf[1] !== 0x8b || buf[2] !== 8) {
    throw new ApkError('bad-gzip', `${where}: not a gzip file`, { file: where });
  }
  // Only the simple header (no optional fields) is peeked; anything else takes the slow path.
  if (buf[3] !== 0) return readGzipMember(buf, where).content.subarray(0, 6).toString('latin1') === '.SIGN.';
  try {
    const head = inflateRawSync(buf.subarray(10, 10 + 4096), { finishFlush: zc.Z_SYNC_FLUSH });
    return head.subarray(0, 6).toString('latin1') === '.SIGN.';
  } catch {
    return false;
  }
}

export function readIndexArchive(buf: Buffer, where: string, opts: { keyring?: Keyring } = {}): IndexArchive {
  let signatures: SignatureEntry[] = [];
  let signed = buf;
  // Peek at the first tar name, so an unsigned index (one big member) is inflated only once.
  if (firstNameIsSignature(buf, where)) {
    const first = readGzipMember(buf, `${where}: signature member`);
    const firstEntries = parseTarSegment(first.content, `${where}: signature member`);
    signatures = firstEntries.flatMap((e) => {
      const p = parseSignatureName(e.name);
      return p && ['RSA', 'RSA256', 'RSA512', 'DSA'].includes(p.alg)
        ? [{ alg: p.alg as SignatureAlg | 'DSA', keyName: p.keyName, signature: e.content }]
        : [];
    });
    signed = buf.subarray(first.length);
  }
  let signedBy: string | undefined;
  if (opts.keyring) signedBy = checkSignatures(signatures, opts.keyring, signed, where);
  let tarBuf: Buffer;
  try {
    // Sized from the trailer's ISIZE, zlib fills one buffer instead of chunks plus a concatenated copy.
    const isize = signed.length >= 4 ? signed.readUInt32LE(signed.length - 4) : 0;
    tarBuf = gunzipSync(signed, { chunkSize: Math.min(Math.max(64 << 10, isize + 1), 1 << 30) });
  } catch (e) {
    throw new ApkError(
      'bad-gzip',
      `${where}: index member: ${(e as Error).message}`,
      { file: where },
      { cause: e },
    );
  }
  const entries = parseTarSegment(tarBuf, `${where}: index member`);
  const apkindex = entries.find((e) => e.name === 'APKINDEX');
  if (!apkindex)
    throw new ApkError('bad-index', `${where}: no APKINDEX entry in the archive`, { file: where });
  const description = entries.find((e) => e.name === 'DESCRIPTION')?.content.toString('utf8') ?? '';
  const index = {
    description,
    entries: parseIndexBuffer(apkindex.content, `${where}: APKINDEX`),
  };
  return signedBy === undefined ? { index, signatures, signed } : { index, signatures, signed, signedBy };
}

export function readIndexFile(path: string, opts: { keyring?: Keyring } = {}): IndexArchive {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new ApkError('io', `${path}: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  return readIndexArchive(buf, path, opts);
}

/** Replaces every signature of an index archive with one by `key`; the index member is kept byte for byte. */
export function resignIndexArchive(buf: Buffer, where: string, key: SigningKeys, mtime?: number): Buffer {
  const { signed } = readIndexArchive(buf, where);
  return Buffer.concat([signatureMember(key, signed, sourceDateEpoch(mtime)), signed]);
}

/** The index entry of an .apk file; its datahash is checked (and its signature, with a keyring). */
export async function indexEntryFromApk(
  path: string,
  opts: { keyring?: Keyring; rewriteArch?: string } = {},
): Promise<IndexEntry> {
  const { head } = await verifyApk(path, opts.keyring ? { keyring: opts.keyring } : {});
  const info = { ...head.info };
  delete info.datahash;
  if (opts.rewriteArch) info.arch = opts.rewriteArch;
  return { ...info, checksum: head.checksum, fileSize: head.fileSize };
}

export interface IndexChange {
  add?: readonly IndexEntry[];
  /** Entries to drop, by name and version (and arch, when given). */
  remove?: readonly { name: string; version: string; arch?: string }[];
}

/** Applies additions (replacing the same name+version+arch) and removals; unchanged entries are reused as they are. */
export function updateIndex(index: ApkIndex, change: IndexChange): ApkIndex {
  const key = (e: { name: string; version: string; arch?: string }) =>
    `${e.name}\0${e.version}\0${e.arch ?? ''}`;
  const drop = new Set<string>();
  const dropAnyArch = new Set<string>();
  for (const r of change.remove ?? []) (r.arch === undefined ? dropAnyArch : drop).add(key(r));
  for (const a of change.add ?? []) drop.add(key(a));
  const kept = index.entries.filter(
    (e) => !drop.has(key(e)) && !dropAnyArch.has(key({ name: e.name, version: e.version })),
  );
  return { description: index.description, entries: [...kept, ...(change.add ?? [])] };
}

/**
 * Adds packages to an index file incrementally and writes it back signed, atomically: only the new
 * .apk files are read. A missing index file starts empty.
 */
export async function addToIndexFile(
  indexPath: string,
  apks: readonly string[],
  opts: {
    signingKey?: SigningKeys;
    keyring?: Keyring;
    description?: string;
    rewriteArch?: string;
    remove?: IndexChange['remove'];
    sourceDateEpoch?: number;
    /** Start from an empty index instead of the existing file. */
    fresh?: boolean;
  } = {},
): Promise<ApkIndex> {
  const add = await Promise.all(
    apks.map((p) => indexEntryFromApk(p, opts.rewriteArch ? { rewriteArch: opts.rewriteArch } : {})),
  );
  if (!opts.fresh && existsSync(indexPath)) {
    // Merging: the unchanged chunks of the existing file are reused compressed, not re-deflated.
    const idx = IncrementalIndex.open(indexPath, {
      ...(opts.keyring && { keyring: opts.keyring }),
      ...(opts.description !== undefined && { description: opts.description }),
    });
    for (const r of opts.remove ?? []) idx.remove(r.name, r.version, r.arch);
    idx.addEntries(add);
    writeFileAtomic(
      indexPath,
      idx.build({
        ...(opts.signingKey && { signingKey: opts.signingKey }),
        ...(opts.sourceDateEpoch !== undefined && { sourceDateEpoch: opts.sourceDateEpoch }),
      }),
    );
    return { description: idx.description, entries: idx.entries };
  }
  const base: ApkIndex = { description: opts.description ?? '', entries: [] };
  const next = updateIndex(base, { add, ...(opts.remove && { remove: opts.remove }) });
  if (opts.description !== undefined) next.description = opts.description;
  const buf = buildIndexArchive(next, {
    ...(opts.signingKey && { signingKey: opts.signingKey }),
    ...(opts.sourceDateEpoch !== undefined && { sourceDateEpoch: opts.sourceDateEpoch }),
  });
  writeFileAtomic(indexPath, buf);
  return next;
}

/** A stable digest of an index's content, for tests and caches. */
export function indexDigest(index: ApkIndex): string {
  return createHash('sha256')
    .update(index.description)
    .update('\0')
    .update(formatIndexText(index.entries))
    .digest('hex');
}

/** Whether a file is a package or an index, from the entries after its signature member. */
export async function detectArchiveKind(path: string): Promise<'apk' | 'index'> {
  const m = await readApkMembers(path);
  const names = parseTarSegment(m.controlContent, `${path}: second member`).map((e) => e.name);
  if (names.includes('.PKGINFO')) return 'apk';
  if (names.includes('APKINDEX') || names.includes('DESCRIPTION')) return 'index';
  throw new ApkError('bad-tar', `${path}: neither a package (.PKGINFO) nor an index (APKINDEX)`, {
    file: path,
  });
}

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
          out = inflateRawSync(member.subarray(off, at + 4), { finishFlush: zc.Z_SYNC_FLUSH });
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
