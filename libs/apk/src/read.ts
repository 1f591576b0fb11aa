import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { ApkError } from './errors.js';
import { type MemberLimit, peekGzipMember, readGzipMember } from './gzip.js';
import { type ApkLimits, limitError, limitsWith, TAR_EXTENDED_HEADER_LIMIT } from './limits.js';
import {
  checkSignatures,
  type Keyring,
  parseSignatureName,
  type SignatureAlg,
  type SignatureEntry,
} from './keys.js';
import { identityOf, SCRIPT_NAMES, type ScriptName } from './pack.js';
import { type PackageInfo, parsePkginfo } from './pkginfo.js';
import { BLOCK, parseTarSegment } from './tar.js';

/** Everything before the data member: signatures, control member, metadata. */
export interface ApkHead {
  file: string;
  signatures: SignatureEntry[];
  /** Compressed bytes of the signature member (empty when unsigned). */
  signatureMember: Buffer;
  /** Compressed bytes of the control member: what the signature and `C:` cover. */
  controlMember: Buffer;
  controlCrcOk: boolean;
  info: PackageInfo;
  scripts: Partial<Record<ScriptName, Buffer>>;
  /** `Q1…` identity, the index `C:`. */
  checksum: string;
  dataOffset: number;
  fileSize: number;
}

const ALGS = new Set<string>(['RSA', 'RSA256', 'RSA512', 'DSA']);

function endsWithEofBlocks(seg: Buffer): boolean {
  if (seg.length < BLOCK) return false;
  const last = seg.subarray(seg.length - BLOCK);
  return last.every((b) => b === 0);
}

/**
 * Reads the member at `off`, growing the read window while the member is cut short. The member
 * may inflate to at most `limit.max` bytes (zlib stops there); and since deflate never needs much
 * more input than output, a member still unfinished after that many compressed bytes is over the
 * limit too, so neither side is read or held past it.
 */
async function memberAt(
  fh: Awaited<ReturnType<typeof open>>,
  off: number,
  fileSize: number,
  where: string,
  limit: MemberLimit,
): Promise<{ bytes: Buffer; content: Buffer; crcOk: boolean }> {
  const maxWindow = limit.max + (limit.max >> 6) + (64 << 10);
  let window = 64 << 10;
  for (;;) {
    const len = Math.min(window, maxWindow, fileSize - off);
    if (len <= 0) throw new ApkError('truncated', `${where}: missing (file ends at ${fileSize} bytes)`);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, off);
    try {
      const m = readGzipMember(buf, where, { lenientCrc: true, limit });
      return { bytes: buf.subarray(0, m.length), content: m.content, crcOk: m.crcOk };
    } catch (e) {
      if (!(e instanceof ApkError && e.code === 'truncated' && off + len < fileSize)) throw e;
      if (len >= maxWindow) throw limitError(limit.name, limit.max, where, limit.context ?? {}, e);
      window *= 4;
    }
  }
}

/** Whether the gzip member at `off` is a signature member, from its first tar name (bounded peek). */
async function isSignatureMember(
  fh: Awaited<ReturnType<typeof open>>,
  off: number,
  fileSize: number,
  where: string,
): Promise<boolean> {
  return (await peekName(fh, off, fileSize, where)).startsWith('.SIGN.');
}

/** The first tar entry name of the gzip member at `off`, from a bounded peek ('' when none). */
async function peekName(
  fh: Awaited<ReturnType<typeof open>>,
  off: number,
  fileSize: number,
  where: string,
): Promise<string> {
  const len = Math.min(1024, fileSize - off);
  if (len <= 0) throw new ApkError('truncated', `${where}: missing (file ends at ${fileSize} bytes)`);
  const buf = Buffer.alloc(len);
  await fh.read(buf, 0, len, off);
  const head = peekGzipMember(buf, where, 100);
  const nul = head.indexOf(0);
  return head.toString('utf8', 0, nul < 0 ? head.length : nul);
}

/** The raw members before the data: what signatures and `C:` are checked against. */
interface ApkMembers {
  file: string;
  signatures: SignatureEntry[];
  signatureMember: Buffer;
  controlMember: Buffer;
  controlContent: Buffer;
  controlCrcOk: boolean;
  dataOffset: number;
  fileSize: number;
}

/** The limits of a package's signature and control members, with the file for their errors. */
function memberLimits(L: ApkLimits, file: string): Record<'signature' | 'control', MemberLimit> {
  return {
    signature: { name: 'signature', max: L.signature, context: { file } },
    control: { name: 'control', max: L.control, context: { file } },
  };
}

async function openFile(file: string): Promise<Awaited<ReturnType<typeof open>>> {
  return open(file, 'r').catch((e: Error) => {
    throw new ApkError('io', `${file}: ${e.message}`, { file }, { cause: e });
  });
}

/**
 * Splits the signature and control members without interpreting the control content. Each is
 * inflated under its limit (the first member's name, peeked at, says which one it is).
 */
async function readApkMembers(file: string, opts: { limits?: Partial<ApkLimits> } = {}): Promise<ApkMembers> {
  const L = limitsWith(opts.limits);
  const fh = await openFile(file);
  try {
    const fileSize = (await fh.stat()).size;
    const signed = await isSignatureMember(fh, 0, fileSize, `${file}: first gzip member`);
    const limit = memberLimits(L, file);
    const first = signed
      ? await memberAt(fh, 0, fileSize, `${file}: signature member`, limit.signature)
      : await memberAt(fh, 0, fileSize, `${file}: control member`, limit.control);
    if (!first.crcOk) throw new ApkError('bad-gzip', `${file}: first gzip member: CRC mismatch`, { file });
    const firstEntries = parseTarSegment(first.content, `${file}: first member`);
    let signatures: SignatureEntry[] = [];
    let signatureMember: Buffer = Buffer.alloc(0);
    let ctl: { bytes: Buffer; content: Buffer; crcOk: boolean } = first;
    if (firstEntries[0]?.name.startsWith('.SIGN.')) {
      if (endsWithEofBlocks(first.content)) {
        throw new ApkError(
          'bad-tar',
          `${file}: signature segment ends with tar EOF blocks (apk rejects it)`,
          { file },
        );
      }
      signatures = firstEntries.flatMap((e) => {
        const p = parseSignatureName(e.name);
        return p && ALGS.has(p.alg)
          ? [{ alg: p.alg as SignatureAlg | 'DSA', keyName: p.keyName, signature: e.content }]
          : [];
      });
      signatureMember = first.bytes;
      ctl = await memberAt(fh, first.bytes.length, fileSize, `${file}: control member`, limit.control);
    }
    return {
      file,
      signatures,
      signatureMember,
      controlMember: ctl.bytes,
      controlContent: ctl.content,
      controlCrcOk: ctl.crcOk,
      dataOffset: signatureMember.length + ctl.bytes.length,
      fileSize,
    };
  } finally {
    await fh.close();
  }
}

/** Parses the control member of split members: `.PKGINFO` and scripts. */
function parseApkHead(m: ApkMembers, limits: ApkLimits): ApkHead {
  const { file } = m;
  if (!m.controlCrcOk) throw new ApkError('bad-gzip', `${file}: control member: CRC mismatch`, { file });
  const ctlEntries = parseTarSegment(m.controlContent, `${file}: control member`);
  const pkginfo = ctlEntries.find((e) => e.name === '.PKGINFO');
  if (!pkginfo) throw new ApkError('no-control', `${file}: control member has no .PKGINFO`, { file });
  // Checked on the tar header's size, before the text is decoded and parsed.
  if (pkginfo.size > limits.pkginfo) {
    throw limitError('pkginfo', limits.pkginfo, `${file}: .PKGINFO (${pkginfo.size} bytes)`, { file });
  }
  if (endsWithEofBlocks(m.controlContent)) {
    throw new ApkError('bad-tar', `${file}: control segment ends with tar EOF blocks (apk rejects it)`, {
      file,
    });
  }
  const info = parsePkginfo(pkginfo.content.toString('utf8'), `${file}: .PKGINFO`);
  const scripts: Partial<Record<ScriptName, Buffer>> = {};
  for (const e of ctlEntries) {
    const s = e.name.slice(1) as ScriptName;
    if (SCRIPT_NAMES.includes(s)) scripts[s] = e.content;
  }
  return {
    file,
    signatures: m.signatures,
    signatureMember: m.signatureMember,
    controlMember: m.controlMember,
    controlCrcOk: m.controlCrcOk,
    info,
    scripts,
    checksum: identityOf(m.controlMember),
    dataOffset: m.dataOffset,
    fileSize: m.fileSize,
  };
}

/** Splits the signature and control members and parses `.PKGINFO`, without touching the data member. */
export async function readApkHead(
  file: string,
  opts: { limits?: Partial<ApkLimits> } = {},
): Promise<ApkHead> {
  return parseApkHead(await readApkMembers(file, opts), limitsWith(opts.limits));
}

/**
 * Whether a file is a package or an index, from the first tar name after its signature member
 * (peeked at: an index's member is never inflated whole here).
 */
export async function detectArchiveKind(
  file: string,
  opts: { limits?: Partial<ApkLimits> } = {},
): Promise<'apk' | 'index'> {
  const limit = memberLimits(limitsWith(opts.limits), file);
  const fh = await openFile(file);
  try {
    const fileSize = (await fh.stat()).size;
    let off = 0;
    if (await isSignatureMember(fh, 0, fileSize, `${file}: first gzip member`)) {
      off = (await memberAt(fh, 0, fileSize, `${file}: signature member`, limit.signature)).bytes.length;
    }
    const name = await peekName(fh, off, fileSize, `${file}: second member`);
    if (name === '.PKGINFO' || name.startsWith('.')) return 'apk';
    if (name === 'APKINDEX' || name === 'DESCRIPTION') return 'index';
    throw new ApkError('bad-tar', `${file}: neither a package (.PKGINFO) nor an index (APKINDEX)`, { file });
  } finally {
    await fh.close();
  }
}

async function hashRange(file: string, start: number, size: number): Promise<string> {
  const h = createHash('sha256');
  if (start >= size) return h.digest('hex');
  for await (const c of createReadStream(file, { start })) h.update(c as Buffer);
  return h.digest('hex');
}

export interface VerifyOptions {
  /** Require a signature from this keyring over the control member. */
  keyring?: Keyring;
  /** Expected identity (index `C:`); checked instead of, or as well as, the signature. */
  checksum?: string;
  /** Overrides of the size limits (limits.ts). */
  limits?: Partial<ApkLimits>;
}

export interface ApkVerification {
  head: ApkHead;
  /** Key file name whose signature verified, when a keyring was given. */
  signedBy?: string;
}

/**
 * Verifies a package the way apk does: signature over the control member (with a keyring), identity
 * against `C:` (with a checksum), then `datahash` over the data member, streamed from disk.
 */
export async function verifyApk(file: string, opts: VerifyOptions = {}): Promise<ApkVerification> {
  const limits = limitsWith(opts.limits);
  const m = await readApkMembers(file, { limits });
  let signedBy: string | undefined;
  const checksum = identityOf(m.controlMember);
  if (opts.checksum !== undefined && checksum !== opts.checksum) {
    throw new ApkError(
      'identity-mismatch',
      `${file}: control member checksum ${checksum} does not match the index (${opts.checksum})`,
      { file },
    );
  }
  // The signature is checked before the control content is trusted enough to parse.
  if (opts.keyring) signedBy = checkSignatures(m.signatures, opts.keyring, m.controlMember, file);
  const head = parseApkHead(m, limits);
  if (!head.info.datahash) {
    throw new ApkError('bad-pkginfo', `${file}: .PKGINFO has no datahash`, { file, pkg: head.info.name });
  }
  const got = await hashRange(file, head.dataOffset, head.fileSize);
  if (got !== head.info.datahash) {
    throw new ApkError(
      'datahash-mismatch',
      `${file}: data member sha256 ${got} does not match datahash ${head.info.datahash} (file truncated or modified)`,
      { file, pkg: head.info.name },
    );
  }
  return signedBy === undefined ? { head } : { head, signedBy };
}

/** A failure while streaming the data member: corruption, or tar-stream's extended-header cap. */
function dataMemberError(e: unknown, file: string, entry?: string): ApkError {
  if (e instanceof ApkError) return e;
  const msg = (e as Error).message;
  const where = entry === undefined ? `${file}: data member` : `${file}: data member: entry ${entry}`;
  const context = entry === undefined ? { file } : { file, entry };
  // tar-stream's words for an extended header over its MAX_HEADER_SIZE (refused before buffering).
  if (msg === 'Header exceeds max size') {
    return limitError('tarHeader', TAR_EXTENDED_HEADER_LIMIT, `${where}: extended header`, context, e);
  }
  return new ApkError('bad-gzip', `${where}: ${msg}`, context, { cause: e });
}

type DataEntryType = 'file' | 'directory' | 'symlink' | 'link';

export interface DataEntry {
  name: string;
  type: DataEntryType;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  size: number;
  mtime: number;
  linkname: string;
  /** Hex SHA-1 from `APK-TOOLS.checksum.SHA1`, if present. */
  sha1?: string;
  xattrs: Record<string, string>;
}

/**
 * Streams the data member's entries to `onEntry` (content as a stream for regular files, which
 * must be consumed). The member is never held in memory whole.
 */
export async function readApkData(
  head: ApkHead,
  onEntry: (e: DataEntry, content: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  const ex = tar.extract();
  const source = createReadStream(head.file, { start: head.dataOffset });
  let consumerFailed = false;
  const feed = pipeline(source, createGunzip(), ex).catch((e: Error) => {
    // When the consumer gave up first, its error is the one to report.
    if (consumerFailed) return;
    throw dataMemberError(e, head.file);
  });
  const consume = (async () => {
    for await (const entry of ex) {
      const h = entry.header;
      const pax = (h.pax ?? {}) as Record<string, string>;
      let name = h.name;
      if (name.endsWith('/')) name = name.slice(0, -1);
      const t = h.type;
      const type: DataEntryType | undefined =
        t === 'file' || t === 'contiguous-file'
          ? 'file'
          : t === 'directory' || t === 'symlink' || t === 'link'
            ? t
            : undefined;
      if (!type) {
        throw new ApkError('bad-tar', `${head.file}: entry ${name}: unsupported type ${t}`, {
          file: head.file,
          entry: name,
        });
      }
      const xattrs: Record<string, string> = {};
      for (const [k, v] of Object.entries(pax)) if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice(13)] = v;
      const e: DataEntry = {
        name,
        type,
        mode: (h.mode ?? 0) & 0o7777,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        uname: h.uname ?? '',
        gname: h.gname ?? '',
        size: h.size ?? 0,
        mtime: h.mtime ? Math.floor(h.mtime.getTime() / 1000) : 0,
        linkname: h.linkname ?? '',
        xattrs,
      };
      const sum = pax['APK-TOOLS.checksum.SHA1'];
      if (sum) e.sha1 = sum;
      const file = head.file;
      // Errors while reading content are the data member's fault, not the consumer's.
      const content = (async function* () {
        try {
          for await (const c of entry as AsyncIterable<Buffer>) yield c;
        } catch (err) {
          throw dataMemberError(err, file, name);
        }
      })();
      try {
        await onEntry(e, content);
      } catch (err) {
        consumerFailed = true;
        throw err;
      }
      entry.resume();
    }
  })();
  // Handled below; this only keeps an early rejection from being reported as unhandled.
  feed.catch(() => {});
  try {
    await consume;
  } catch (e) {
    if (!consumerFailed) {
      // A stream error surfacing in the consumer: report it as the data member's.
      await feed;
      if (e instanceof ApkError) throw e;
      throw dataMemberError(e, head.file);
    }
    source.destroy();
    ex.destroy();
    await feed;
    throw e;
  }
  await feed;
}
