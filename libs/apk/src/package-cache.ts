/**
 * The content-addressed package cache (keyed by `C:`): a verified .apk, its extracted tree and a
 * manifest per package, published atomically and shared between processes.
 */

import { existsSync } from 'node:fs';
import { link, lstat, mkdir, open, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { IndexEntry } from './index-text.js';
import { ApkError } from './errors.js';
import { discard, moveAside, type PublishOutcome, publishDir, publishFile } from './cache.js';
import { tempPath } from './fsutil.js';
import type { ScriptName } from './pack.js';
import { type ApkHead, verifyApk } from './read.js';
import { downloadTo, packageLocation, type RepositorySpec } from './repository.js';
import type { ResolvedPackage } from './resolve.js';
import { extractPackage, type InstalledFile } from './extract.js';

interface PackageManifest {
  checksum: string;
  name: string;
  version: string;
  replaces: string[];
  replacesPriority?: number;
  triggers: string[];
  scripts: Partial<Record<ScriptName, string>>;
  builddate?: number;
  files: InstalledFile[];
}

const hexOf = (q1: string) => Buffer.from(q1.replace(/^Q1/, ''), 'base64').toString('hex');

/** The cache key of a package: hex of its `C:` identity. */
function cacheKey(checksum: string): string {
  if (!/^Q1[A-Za-z0-9+/]{27}=$/.test(checksum))
    throw new ApkError('bad-index', `bad package checksum "${checksum}"`);
  return hexOf(checksum);
}

export interface CachedPackage {
  entry: IndexEntry;
  tag?: string;
  /** The verified .apk in the cache. */
  apk: string;
  /** This package's files, extracted on their own (one BuildKit layer each). */
  tree: string;
  manifest: PackageManifest;
}

/** What happened to one package in the cache (for logs, metrics and the concurrency tests). */
export type CacheEvent =
  | { type: 'hit'; pkg: string }
  | { type: 'downloaded'; pkg: string; outcome: PublishOutcome }
  | { type: 'extracted'; pkg: string; outcome: PublishOutcome }
  | { type: 'moved-aside'; pkg: string; path: string; why: string };

export type CacheEventSink = (e: CacheEvent) => void;

/** Where a package lives in the cache: `apk/<key>.apk`, `tree/<key>/` and `tree/<key>.json`. */
export function cachePaths(
  cacheDir: string,
  checksum: string,
): { apk: string; tree: string; manifest: string } {
  const key = cacheKey(checksum);
  return {
    apk: join(cacheDir, 'apk', `${key}.apk`),
    tree: join(cacheDir, 'tree', key),
    manifest: join(cacheDir, 'tree', `${key}.json`),
  };
}

/**
 * The manifest of a cached tree, or undefined when absent. One that cannot be parsed or names
 * another package is corrupt: it and its tree are moved aside, so they are rebuilt.
 */
async function readManifest(
  cacheDir: string,
  paths: { tree: string; manifest: string },
  checksum: string,
  emit: (path: string, why: string) => void,
): Promise<PackageManifest | undefined> {
  // Inodes of what was read, so only that pair is moved aside, never a good pair that another
  // process has put in place since.
  const treeIno = (await lstat(paths.tree).catch(() => undefined))?.ino;
  let text: string;
  let manifestIno: number;
  try {
    const fh = await open(paths.manifest, 'r');
    try {
      manifestIno = (await fh.stat()).ino;
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const m = JSON.parse(text) as PackageManifest;
    if (m.checksum === checksum && Array.isArray(m.files)) return m;
  } catch {
    // Unparseable: handled below like a manifest of the wrong package.
  }
  const why = 'manifest unreadable or of another package';
  // Tree first: a manifest is published before its tree and removed after it, so a tree under its
  // final name always has its manifest (a peer never mistakes a doomed tree for a finished one).
  if (treeIno !== undefined && (await moveAside(cacheDir, paths.tree, treeIno))) emit(paths.tree, why);
  if (await moveAside(cacheDir, paths.manifest, manifestIno)) emit(paths.manifest, why);
  return undefined;
}

/**
 * A private name (hard link) for the file now at `path`, or undefined when there is none. Where
 * the filesystem has no hard links, the path itself (reads may then see a replacement, which is
 * only ever another verified copy).
 */
async function pin(
  path: string,
): Promise<{ path: string; ino: number; release: () => Promise<void> } | undefined> {
  const own = tempPath(path);
  try {
    await link(path, own);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw e;
    const st = await lstat(path).catch(() => undefined);
    return st && { path, ino: st.ino, release: async () => {} };
  }
  return { path: own, ino: (await lstat(own)).ino, release: () => rm(own, { force: true }) };
}

/**
 * A verified copy of the package: the cached `apk/<key>.apk` when it verifies, else a fresh
 * download verified under a temp name and then linked into place (an entry another process placed
 * meanwhile is kept). `head.file` is our own name for that file, to extract from; `done` removes it.
 */
async function verifiedApk(
  pkg: ResolvedPackage,
  where: string,
  apk: string,
  cacheDir: string,
  emit: CacheEventSink,
): Promise<{ head: ApkHead; done: () => Promise<void> }> {
  const name = `${pkg.entry.name}-${pkg.entry.version}`;
  const checksum = pkg.entry.checksum;
  const pinned = await pin(apk);
  if (pinned) {
    // Verified and later extracted through our own name for that inode: every read sees one file,
    // whatever other processes do to `apk` meanwhile.
    try {
      const { head } = await verifyApk(pinned.path, { checksum });
      return { head, done: pinned.release };
    } catch (e) {
      await pinned.release();
      if (!(e instanceof ApkError)) throw e;
      // Corrupt in the cache (disk, or a writer from before downloads were atomic): only that
      // inode is moved aside, never a good copy another process has put there since.
      if (await moveAside(cacheDir, apk, pinned.ino))
        emit({ type: 'moved-aside', pkg: name, path: apk, why: e.message });
    }
  }
  await mkdir(dirname(apk), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    const tmp = tempPath(apk);
    try {
      await downloadTo(where, tmp);
      const { head } = await verifyApk(tmp, { checksum });
      emit({ type: 'downloaded', pkg: name, outcome: await publishFile(tmp, apk) });
      return { head, done: () => rm(tmp, { force: true }) };
    } catch (e) {
      await rm(tmp, { force: true });
      if (!(e instanceof ApkError)) throw e;
      // A failed or corrupt download is fetched once more before it is reported.
      if (attempt >= 1) {
        throw new ApkError(
          e.code,
          `${pkg.entry.name}-${pkg.entry.version} from ${where}: ${e.message} (after refetch)`,
          { pkg: pkg.entry.name, file: where },
          { cause: e },
        );
      }
    }
  }
}

function manifestOf(head: ApkHead, checksum: string, files: InstalledFile[]): PackageManifest {
  const scripts: Partial<Record<ScriptName, string>> = {};
  for (const [k, v] of Object.entries(head.scripts)) scripts[k as ScriptName] = v.toString('utf8');
  return {
    checksum,
    name: head.info.name,
    version: head.info.version,
    replaces: head.info.replaces,
    ...(head.info.replacesPriority !== undefined && { replacesPriority: head.info.replacesPriority }),
    triggers: head.info.triggers,
    scripts,
    ...(head.info.builddate !== undefined && { builddate: head.info.builddate }),
    files,
  };
}

/**
 * Fetches a package into `<cache>/apk/<key>.apk` unless present, verifies `C:` and datahash, and
 * extracts it once into `<cache>/tree/<key>`. A corrupt download is fetched once more, then reported.
 *
 * Safe with other processes on the same cache and no lock: downloads and extractions go to unique
 * temp names and are published without replacing anything (see cache.ts), and the manifest is
 * published before its tree, so a tree under its final name always has a complete manifest and
 * never changes while someone reads it.
 */
export async function fetchAndExtract(
  pkg: ResolvedPackage,
  repos: readonly RepositorySpec[],
  arch: string,
  cacheDir: string,
  onEvent: CacheEventSink = () => {},
): Promise<CachedPackage> {
  const name = `${pkg.entry.name}-${pkg.entry.version}`;
  const aside = (path: string, why: string) => onEvent({ type: 'moved-aside', pkg: name, path, why });
  const checksum = pkg.entry.checksum;
  const paths = cachePaths(cacheDir, checksum);
  const { apk, tree } = paths;
  const repo = repos[pkg.repository];
  if (!repo) throw new ApkError('fetch-failed', `${pkg.entry.name}: repository #${pkg.repository} not given`);
  const where = packageLocation(repo, arch, pkg.entry);
  const base = { entry: pkg.entry, ...(pkg.tag !== undefined && { tag: pkg.tag }), apk, tree };
  const cached = await readManifest(cacheDir, paths, checksum, aside);
  if (cached && existsSync(tree) && existsSync(apk)) {
    onEvent({ type: 'hit', pkg: name });
    return { ...base, manifest: cached };
  }
  const { head, done } = await verifiedApk(pkg, where, apk, cacheDir, onEvent);
  try {
    const again = cached ?? (await readManifest(cacheDir, paths, checksum, aside));
    if (again && existsSync(tree)) return { ...base, manifest: again };
    const tmp = tempPath(tree);
    try {
      const manifest = manifestOf(head, checksum, await extractPackage(head, tmp));
      await publishManifest(paths.manifest, manifest);
      onEvent({ type: 'extracted', pkg: name, outcome: await publishDir(tmp, tree, cacheDir) });
      return { ...base, manifest };
    } finally {
      await discard(tmp, cacheDir);
    }
  } finally {
    await done();
  }
}

/** The manifest is a pure function of the package, so an existing one is as good as ours. */
async function publishManifest(path: string, manifest: PackageManifest): Promise<void> {
  const tmp = tempPath(path);
  try {
    await writeFile(tmp, JSON.stringify(manifest), { flag: 'wx', mode: 0o644 });
    await publishFile(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}
