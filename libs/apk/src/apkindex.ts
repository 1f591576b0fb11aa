import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { ApkError } from './errors.js';
import { writeFileAtomic } from './fsutil.js';
import { gzipMember, readGzipMember } from './gzip.js';
import {
  checkSignatures,
  type Keyring,
  parseSignatureName,
  type SignatureAlg,
  type SignatureEntry,
  type SigningKey,
} from './keys.js';
import { signatureMember, sourceDateEpoch } from './pack.js';
import type { PackageInfo } from './pkginfo.js';
import { readApkMembers, verifyApk } from './read.js';
import { encodeEntry, EOF_BLOCKS, parseTarSegment } from './tar.js';
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
export function compareEntries(a: IndexEntry, b: IndexEntry): number {
  return (
    strcasecmp(a.name, b.name) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
    compareVersions(a.version, b.version) ||
    (a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0)
  );
}

export function formatIndexText(entries: readonly IndexEntry[]): string {
  return [...entries].sort(compareEntries).map(formatIndexRecord).join('');
}

const split = (v: string) => (v === '' ? [] : v.split(' ').filter((x) => x !== ''));

/**
 * Parses APKINDEX text. Unknown lowercase letters are ignored (as apk does); an unknown uppercase
 * letter, a line without `X:`, or a record without C/P/V is an error naming `where` and the line.
 */
export function parseIndexText(text: string, where: string): IndexEntry[] {
  const out: IndexEntry[] = [];
  let cur: Partial<IndexEntry> & { depends: string[]; provides: string[]; installIf: string[] } = {
    depends: [],
    provides: [],
    installIf: [],
  };
  let started = 0;
  let has = false;
  const bad = (line: number, msg: string): never => {
    throw new ApkError('bad-index', `${where}:${line}: ${msg}`, { file: where, line });
  };
  const finish = (line: number) => {
    if (!has) return;
    if (!cur.checksum || !cur.name || !cur.version) {
      bad(
        started,
        `record ending at line ${line} lacks ${['C', 'P', 'V'].filter((_k, i) => ![cur.checksum, cur.name, cur.version][i]).join(', ')}:`,
      );
    }
    out.push({
      arch: '',
      size: 0,
      fileSize: 0,
      replaces: [],
      triggers: [],
      ...cur,
    } as IndexEntry);
    cur = { depends: [], provides: [], installIf: [] };
    has = false;
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
    if (text.charCodeAt(pos + 1) !== 58 /* : */)
      bad(lineNo, `expected "X:value", got "${text.slice(pos, Math.min(end, pos + 60))}"`);
    if (!has) {
      has = true;
      started = lineNo;
    }
    const v = text.slice(pos + 2, end);
    switch (text[pos]) {
      case 'C':
        cur.checksum = v;
        break;
      case 'P':
        cur.name = v;
        break;
      case 'V':
        cur.version = v;
        break;
      case 'A':
        cur.arch = v;
        break;
      case 'S':
        cur.fileSize = Number(v);
        break;
      case 'I':
        cur.size = Number(v);
        break;
      case 'T':
        cur.description = v;
        break;
      case 'U':
        cur.url = v;
        break;
      case 'L':
        cur.license = v;
        break;
      case 'o':
        cur.origin = v;
        break;
      case 'm':
        cur.maintainer = v;
        break;
      case 't':
        cur.builddate = Number(v);
        break;
      case 'c':
        cur.commit = v;
        break;
      case 'k':
        cur.providerPriority = Number(v);
        break;
      case 'D':
        cur.depends = split(v);
        break;
      case 'p':
        cur.provides = split(v);
        break;
      case 'i':
        cur.installIf = split(v);
        break;
      default: {
        const c = text.charCodeAt(pos);
        if (c >= 65 && c <= 90)
          bad(lineNo, `unknown field "${text[pos]}:" (apk marks such packages uninstallable)`);
      }
    }
    pos = end + 1;
  }
  finish(lineNo + 1);
  return out;
}

/** The index tar member (with EOF blocks): DESCRIPTION first, then APKINDEX, as `apk index` writes. */
export function indexMember(index: ApkIndex, mtime: number): Buffer {
  const base = { type: 'file' as const, mode: 0o644, mtime, uid: 0, gid: 0, uname: 'root', gname: 'root' };
  const tarBuf = Buffer.concat([
    encodeEntry({ ...base, name: 'DESCRIPTION' }, Buffer.from(index.description)),
    encodeEntry({ ...base, name: 'APKINDEX' }, Buffer.from(formatIndexText(index.entries))),
    EOF_BLOCKS,
  ]);
  return gzipMember(tarBuf, 6);
}

/** `APKINDEX.tar.gz` bytes: signature member (RSA256 over the index member) when a key is given. */
export function buildIndexArchive(
  index: ApkIndex,
  opts: { signingKey?: SigningKey; sourceDateEpoch?: number } = {},
): Buffer {
  const mtime = sourceDateEpoch(opts.sourceDateEpoch);
  const idx = indexMember(index, mtime);
  return opts.signingKey ? Buffer.concat([signatureMember(opts.signingKey, idx, mtime), idx]) : idx;
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
export function readIndexArchive(buf: Buffer, where: string, opts: { keyring?: Keyring } = {}): IndexArchive {
  const first = readGzipMember(buf, `${where}: first gzip member`);
  const firstEntries = parseTarSegment(first.content, `${where}: first member`);
  let signatures: SignatureEntry[] = [];
  let signed = buf;
  if (firstEntries[0]?.name.startsWith('.SIGN.')) {
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
    tarBuf = gunzipSync(signed);
  } catch (e) {
    throw new ApkError('bad-gzip', `${where}: index member: ${(e as Error).message}`, { file: where });
  }
  const entries = parseTarSegment(tarBuf, `${where}: index member`);
  const apkindex = entries.find((e) => e.name === 'APKINDEX');
  if (!apkindex)
    throw new ApkError('bad-index', `${where}: no APKINDEX entry in the archive`, { file: where });
  const description = entries.find((e) => e.name === 'DESCRIPTION')?.content.toString('utf8') ?? '';
  const index = {
    description,
    entries: parseIndexText(apkindex.content.toString('utf8'), `${where}: APKINDEX`),
  };
  return signedBy === undefined ? { index, signatures, signed } : { index, signatures, signed, signedBy };
}

export function readIndexFile(path: string, opts: { keyring?: Keyring } = {}): IndexArchive {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new ApkError('io', `${path}: ${(e as Error).message}`, { file: path });
  }
  return readIndexArchive(buf, path, opts);
}

/** Replaces every signature of an index archive with one by `key`; the index member is kept byte for byte. */
export function resignIndexArchive(buf: Buffer, where: string, key: SigningKey, mtime?: number): Buffer {
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
    signingKey?: SigningKey;
    keyring?: Keyring;
    description?: string;
    rewriteArch?: string;
    remove?: IndexChange['remove'];
    sourceDateEpoch?: number;
    /** Start from an empty index instead of the existing file. */
    fresh?: boolean;
  } = {},
): Promise<ApkIndex> {
  let base: ApkIndex = { description: opts.description ?? '', entries: [] };
  if (!opts.fresh) {
    if (existsSync(indexPath)) {
      base = readIndexFile(indexPath, opts.keyring ? { keyring: opts.keyring } : {}).index;
    }
  }
  const add = await Promise.all(
    apks.map((p) => indexEntryFromApk(p, opts.rewriteArch ? { rewriteArch: opts.rewriteArch } : {})),
  );
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
