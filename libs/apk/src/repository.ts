import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { readIndexArchive } from './index-archive.js';
import type { IndexEntry } from './index-text.js';
import { ApkError } from './errors.js';
import { type ApkLimits, type LimitName, limitError, limitsWith } from './limits.js';
import type { Keyring } from './keys.js';
import type { ResolverRepository } from './resolve.js';

/** A repository root (local directory or http(s) base URL) holding `<arch>/APKINDEX.tar.gz`. */
export interface RepositorySpec {
  url: string;
  /** `@tag` of a pinned repository. */
  tag?: string;
}

/** Parses an /etc/apk/repositories line: `URL`, `@tag URL` (or `@tag=URL` on a command line). */
export function parseRepositoryLine(line: string): RepositorySpec | undefined {
  const s = line.trim();
  if (!s || s.startsWith('#')) return undefined;
  const m = /^@([A-Za-z0-9_.-]+)[\s=]+(\S+)$/.exec(s);
  if (m) return { tag: m[1]!, url: m[2]! };
  if (/\s/.test(s)) throw new ApkError('bad-index', `repository "${s}": expected URL or "@tag URL"`);
  return { url: s };
}

export function formatRepositoryLine(r: RepositorySpec): string {
  return r.tag ? `@${r.tag} ${r.url}` : r.url;
}

const isHttp = (u: string) => /^https?:\/\//.test(u);

function localPath(u: string): string {
  if (u.startsWith('file://')) return fileURLToPath(u);
  return isAbsolute(u) ? u : resolve(u);
}

/** `<repo>/<arch>/<file>` as a URL or a path. */
export function repoLocation(repo: RepositorySpec, arch: string, file: string): string {
  const base = repo.url.replace(/\/+$/, '');
  return isHttp(base) ? `${base}/${arch}/${encodeURIComponent(file)}` : `${localPath(base)}/${arch}/${file}`;
}

/** apk names packages `<P>-<V>.apk`; like apko, we look in the target arch's directory. */
export function packageLocation(repo: RepositorySpec, arch: string, e: IndexEntry): string {
  return repoLocation(repo, arch, `${e.name}-${e.version}.apk`);
}

/** What a fetch may return at most, and the named error past it. */
interface FetchLimit {
  name: LimitName;
  max: number;
}

/** A failed read or download of `location`, with its cause; errors of ours pass through. */
function fetchFailed(location: string, e: unknown): ApkError {
  if (e instanceof ApkError) return e;
  return new ApkError(
    'fetch-failed',
    `${location}: ${(e as Error).message}`,
    { file: location },
    { cause: e },
  );
}

/**
 * The bytes at `location`. With `limit`, a larger file or response is refused before it is read
 * (its size or Content-Length) or as soon as the streamed body passes the limit.
 */
export async function fetchBytes(location: string, limit?: FetchLimit): Promise<Buffer> {
  const over = (size: number) => limit !== undefined && size > limit.max;
  const tooLarge = (l: FetchLimit) => limitError(l.name, l.max, location, { file: location });
  if (!isHttp(location)) {
    try {
      if (limit && over((await stat(location)).size)) throw tooLarge(limit);
      return await readFile(location);
    } catch (e) {
      throw fetchFailed(location, e);
    }
  }
  let res: Response;
  try {
    res = await fetch(location);
  } catch (e) {
    throw fetchFailed(location, e);
  }
  if (!res.ok)
    throw new ApkError('fetch-failed', `${location}: HTTP ${res.status} ${res.statusText}`, {
      file: location,
    });
  if (!limit || !res.body) return Buffer.from(await res.arrayBuffer());
  if (over(Number(res.headers.get('content-length') ?? 0))) {
    await res.body.cancel();
    throw tooLarge(limit);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const c of res.body as AsyncIterable<Uint8Array>) {
      total += c.byteLength;
      if (over(total)) throw tooLarge(limit);
      chunks.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    }
  } catch (e) {
    throw fetchFailed(location, e);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Copies or downloads `location` into the new file `path` (which must not exist: callers pass a
 * unique temp name), streaming. Not atomic by itself; see {@link fetchToFile}.
 */
export async function downloadTo(location: string, path: string): Promise<void> {
  const out = () => createWriteStream(path, { flags: 'wx' });
  if (!isHttp(location)) {
    await pipeline(createReadStream(location), out()).catch((e: Error) => {
      throw new ApkError('fetch-failed', `${location}: ${e.message}`, { file: location });
    });
    return;
  }
  let res: Response;
  try {
    res = await fetch(location);
  } catch (e) {
    throw fetchFailed(location, e);
  }
  if (!res.ok || !res.body) {
    throw new ApkError('fetch-failed', `${location}: HTTP ${res.status} ${res.statusText}`, {
      file: location,
    });
  }
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), out()).catch(
    (e: Error) => {
      throw new ApkError('fetch-failed', `${location}: ${e.message}`, { file: location });
    },
  );
}

export interface LoadedRepository extends ResolverRepository {
  spec: RepositorySpec;
  description: string;
  signedBy?: string;
  /** sha256 (hex) of the exact `APKINDEX.tar.gz` bytes verified: what a memo of a resolution is keyed by. */
  digest: string;
}

/**
 * Fetches and verifies `<repo>/<arch>/APKINDEX.tar.gz`. A keyring is required unless
 * `allowUntrusted` (then an unsigned index is accepted).
 */
export async function loadRepository(
  spec: RepositorySpec,
  arch: string,
  opts: { keyring?: Keyring; allowUntrusted?: boolean; limits?: Partial<ApkLimits> } = {},
): Promise<LoadedRepository> {
  const limits = limitsWith(opts.limits);
  const loc = repoLocation(spec, arch, 'APKINDEX.tar.gz');
  // A compressed index larger than what it may inflate to is refused before it is held.
  const buf = await fetchBytes(loc, { name: 'index', max: limits.index });
  if (!opts.keyring && !opts.allowUntrusted) {
    throw new ApkError('untrusted', `${loc}: no keyring given to verify the index (or allow untrusted)`, {
      file: loc,
    });
  }
  let r: ReturnType<typeof readIndexArchive>;
  try {
    r = readIndexArchive(buf, loc, { limits, ...(opts.keyring && { keyring: opts.keyring }) });
  } catch (e) {
    if (opts.allowUntrusted && e instanceof ApkError && (e.code === 'unsigned' || e.code === 'untrusted')) {
      r = readIndexArchive(buf, loc, { limits });
    } else throw e;
  }
  return {
    spec,
    name: formatRepositoryLine(spec),
    ...(spec.tag !== undefined && { tag: spec.tag }),
    entries: r.index.entries,
    description: r.index.description,
    ...(r.signedBy !== undefined && { signedBy: r.signedBy }),
    digest: createHash('sha256').update(buf).digest('hex'),
  };
}
