import { readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { ApkError } from './errors.js';
import { isTooLarge, peekGzipMember, readGzipMember } from './gzip.js';
import { type ApkLimits, limitError, limitsWith } from './limits.js';
import {
  checkSignatures,
  type Keyring,
  parseSignatureName,
  type SignatureAlg,
  type SignatureEntry,
} from './keys.js';
import { type SigningKeys, signatureMember, sourceDateEpoch } from './pack.js';
import { verifyApk } from './read.js';
import { parseTarSegment } from './tar.js';
import { type ApkIndex, type IndexEntry, parseIndexText } from './index-text.js';

export interface IndexArchive {
  index: ApkIndex;
  signatures: SignatureEntry[];
  /** The bytes after the signature member: what index signatures cover. */
  signed: Buffer;
  signedBy?: string;
}

function firstNameIsSignature(buf: Buffer, where: string): boolean {
  if (buf.length < 18 || buf[0] !== 0x1f || buf[1] !== 0x8b || buf[2] !== 8) {
    throw new ApkError('bad-gzip', `${where}: not a gzip file`, { file: where });
  }
  return peekGzipMember(buf, where, 6).toString('latin1') === '.SIGN.';
}

/**
 * Reads an `APKINDEX.tar.gz`. With a keyring the signature must verify (apk's rule: the first
 * signature whose key is known decides); without one, signatures are returned unchecked. The
 * signature member and the index member inflate under their limits (limits.ts), or fail with
 * `limit-signature` / `limit-index` before more is held.
 */
export function readIndexArchive(
  buf: Buffer,
  where: string,
  opts: { keyring?: Keyring; limits?: Partial<ApkLimits> } = {},
): IndexArchive {
  const L = limitsWith(opts.limits);
  let signatures: SignatureEntry[] = [];
  let signed = buf;
  // Peek at the first tar name, so an unsigned index (one big member) is inflated only once.
  if (firstNameIsSignature(buf, where)) {
    const first = readGzipMember(buf, `${where}: signature member`, {
      limit: { name: 'signature', max: L.signature, context: { file: where } },
    });
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
    // Sized from the trailer's ISIZE, zlib fills one buffer instead of chunks plus a concatenated
    // copy; ISIZE is the file's word, so never beyond the limit, which zlib enforces as it inflates.
    const isize = signed.length >= 4 ? signed.readUInt32LE(signed.length - 4) : 0;
    tarBuf = gunzipSync(signed, {
      chunkSize: Math.min(Math.max(64 << 10, isize + 1), L.index + 1),
      maxOutputLength: L.index,
    });
  } catch (e) {
    if (isTooLarge(e)) throw limitError('index', L.index, `${where}: index member`, { file: where }, e);
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
    entries: parseIndexText(apkindex.content, `${where}: APKINDEX`),
  };
  return signedBy === undefined ? { index, signatures, signed } : { index, signatures, signed, signedBy };
}

export function readIndexFile(
  path: string,
  opts: { keyring?: Keyring; limits?: Partial<ApkLimits> } = {},
): IndexArchive {
  const max = limitsWith(opts.limits).index;
  let buf: Buffer;
  try {
    // A compressed index larger than what it may inflate to is not read at all.
    if (statSync(path).size > max) throw limitError('index', max, path, { file: path });
    buf = readFileSync(path);
  } catch (e) {
    if (e instanceof ApkError) throw e;
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
  opts: { keyring?: Keyring; rewriteArch?: string; limits?: Partial<ApkLimits> } = {},
): Promise<IndexEntry> {
  const { head } = await verifyApk(path, {
    ...(opts.keyring && { keyring: opts.keyring }),
    ...(opts.limits && { limits: opts.limits }),
  });
  const info = { ...head.info };
  delete info.datahash;
  if (opts.rewriteArch) info.arch = opts.rewriteArch;
  return { ...info, checksum: head.checksum, fileSize: head.fileSize };
}
