/**
 * Installing resolved packages: fetch into a content-addressed cache (keyed by `C:`), verify
 * identity and datahash, extract each package into its own directory, and write the apk database
 * (lib/apk/db, etc/apk) so `apk` run inside the result sees a consistent installation.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import {
  chmod,
  cp,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readlink,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { formatIndexRecord, type IndexEntry } from './apkindex.js';
import { ApkError } from './errors.js';
import { discard, moveAside, type PublishOutcome, pruneCache, publishDir, publishFile } from './cache.js';
import { tempPath, writeFileAtomic } from './fsutil.js';
import type { Keyring } from './keys.js';
import type { ScriptName } from './pack.js';
import { type ApkHead, type DataEntry, readApkData, verifyApk } from './read.js';
import { downloadTo, formatRepositoryLine, packageLocation, type RepositorySpec } from './repository.js';
import type { ResolvedPackage } from './resolve.js';
import { encodeEntry, EOF_BLOCKS } from './tar.js';

/** What the installed DB needs to know about one extracted entry. */
interface InstalledFile {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  mode: number;
  uid: number;
  gid: number;
  /** Hex SHA-1 (content, or link target for symlinks). */
  sha1?: string;
}

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

function unsafe(pkg: string, entry: string, why: string): never {
  throw new ApkError('unsafe-path', `${pkg}: entry "${entry}" ${why}; nothing was written outside the root`, {
    pkg,
    entry,
  });
}

/** Rejects absolute names, `.`/`..` components, empty components and control characters. */
function checkEntryName(pkg: string, name: string): void {
  if (name === '' || name.startsWith('/')) unsafe(pkg, name, 'is an absolute or empty path');
  if (/[\x00-\x1f\x7f]/.test(name)) unsafe(pkg, name, 'contains control characters');
  for (const c of name.split('/')) {
    if (c === '..') unsafe(pkg, name, 'leads out of the root (..)');
    if (c === '.' || c === '') unsafe(pkg, name, 'has an empty or "." component');
  }
}

/** True when a relative symlink at `entry` pointing to `target` stays inside the root. */
function symlinkStaysInside(entry: string, target: string): boolean {
  if (target.startsWith('/')) return true;
  const joined = posix.normalize(posix.join(posix.dirname(entry), target));
  return joined !== '..' && !joined.startsWith('../');
}

const isRoot = () => process.getuid?.() === 0;

/**
 * Extracts a verified package's data member into `dest` (which must not exist yet); returns the
 * installed-file list. Every name is checked first; nothing is written through a symlink.
 */
async function extractPackage(head: ApkHead, dest: string): Promise<InstalledFile[]> {
  const pkg = `${head.info.name}-${head.info.version}`;
  const files: InstalledFile[] = [];
  const symlinks = new Set<string>();
  const regular = new Map<string, InstalledFile>();
  const dirs: { abs: string; mtime: number }[] = [];
  await mkdir(dest, { recursive: true });
  const viaSymlink = (name: string) => {
    let i = name.indexOf('/');
    while (i >= 0) {
      if (symlinks.has(name.slice(0, i))) return name.slice(0, i);
      i = name.indexOf('/', i + 1);
    }
    return undefined;
  };
  await readApkData(head, async (e: DataEntry, content) => {
    checkEntryName(pkg, e.name);
    // apk skips top-level dot names in the data section.
    if (e.name.startsWith('.')) {
      for await (const _ of content);
      return;
    }
    const through = viaSymlink(e.name);
    if (through) unsafe(pkg, e.name, `goes through the symlink "${through}"`);
    const abs = join(dest, e.name);
    const existing = await lstat(abs).catch(() => undefined);
    if (existing?.isSymbolicLink()) unsafe(pkg, e.name, 'would be written through a symlink');
    const rec: InstalledFile = { path: e.name, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid };
    switch (e.type) {
      case 'directory':
        if (!existing) await mkdir(abs);
        await chmod(abs, e.mode);
        dirs.push({ abs, mtime: e.mtime });
        break;
      case 'symlink':
        if (!symlinkStaysInside(e.name, e.linkname))
          unsafe(pkg, e.name, `is a symlink to "${e.linkname}", outside the root`);
        if (existing) await rm(abs, { recursive: true });
        await symlink(e.linkname, abs);
        symlinks.add(e.name);
        rec.sha1 = e.sha1 ?? createHash('sha1').update(e.linkname).digest('hex');
        rec.mode = 0o777;
        break;
      case 'link': {
        checkEntryName(pkg, e.linkname);
        const target = regular.get(e.linkname);
        if (!target)
          unsafe(
            pkg,
            e.name,
            `is a hard link to "${e.linkname}", which is not an earlier file of the package`,
          );
        if (existing) await rm(abs);
        await link(join(dest, e.linkname), abs);
        if (target.sha1) rec.sha1 = target.sha1;
        rec.type = 'file';
        break;
      }
      case 'file': {
        if (existing) await rm(abs, { recursive: true });
        const h = createHash('sha1');
        const out = createWriteStream(abs, { mode: e.mode & 0o777 });
        await pipeline(
          (async function* () {
            for await (const c of content) {
              h.update(c);
              yield c;
            }
          })(),
          out,
        );
        const sum = h.digest('hex');
        if (e.sha1 && e.sha1 !== sum) {
          throw new ApkError(
            'file-checksum-mismatch',
            `${pkg}: ${e.name}: content SHA-1 ${sum} ≠ recorded ${e.sha1}`,
            {
              pkg,
              entry: e.name,
            },
          );
        }
        rec.sha1 = sum;
        await chmod(abs, e.mode);
        regular.set(e.name, rec);
        break;
      }
    }
    if (isRoot()) await lchown(abs, e.uid, e.gid);
    if (e.type === 'symlink') await lutimes(abs, e.mtime, e.mtime);
    else if (e.type !== 'directory') await utimes(abs, e.mtime, e.mtime);
    files.push(rec);
  });
  for (const d of dirs.reverse()) await utimes(d.abs, d.mtime, d.mtime);
  return files;
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

type CacheEventSink = (e: CacheEvent) => void;

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
async function fetchAndExtract(
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

const q1 = (hex: string) => `Q1${Buffer.from(hex, 'hex').toString('base64')}`;

/** One installed-DB record: the index header, r/q/s, then F/M/R/a/Z per directory. */
function installedRecord(p: CachedPackage): string {
  let s = formatIndexRecord(p.entry).slice(0, -1);
  const m = p.manifest;
  if (m.replaces.length) s += `r:${m.replaces.join(' ')}\n`;
  if (m.replacesPriority) s += `q:${m.replacesPriority}\n`;
  if (p.tag) s += `s:${p.tag}\n`;
  const dirs = new Map<string, { dir?: InstalledFile; files: InstalledFile[] }>();
  const dirOf = (path: string) => {
    let d = dirs.get(path);
    if (!d) {
      d = { files: [] };
      dirs.set(path, d);
    }
    return d;
  };
  for (const f of m.files) {
    if (f.type === 'directory') dirOf(f.path).dir = f;
    else dirOf(f.path.includes('/') ? f.path.slice(0, f.path.lastIndexOf('/')) : '').files.push(f);
  }
  for (const [path, d] of dirs) {
    s += `F:${path}\n`;
    if (d.dir && (d.dir.uid !== 0 || d.dir.gid !== 0 || d.dir.mode !== 0o755)) {
      s += `M:${d.dir.uid}:${d.dir.gid}:${d.dir.mode.toString(8)}\n`;
    }
    for (const f of d.files) {
      s += `R:${f.path.slice(f.path.lastIndexOf('/') + 1)}\n`;
      const mode = f.type === 'symlink' ? 0o777 : f.mode;
      if (f.uid !== 0 || f.gid !== 0 || mode !== 0o644) s += `a:${f.uid}:${f.gid}:${mode.toString(8)}\n`;
      if (f.sha1) s += `Z:${q1(f.sha1)}\n`;
    }
  }
  return `${s}\n`;
}

interface DatabaseOptions {
  world: readonly string[];
  repositories: readonly RepositorySpec[];
  arch: string;
  keyring?: Keyring;
}

/**
 * Writes `etc/apk/{world,repositories,arch,keys/}` and `<db>/{installed,lock,scripts.tar,triggers}`
 * under `dir`. `<db>` is `lib/apk/db`, or `usr/lib/apk/db` when a package makes `lib` a symlink.
 */
async function writeDatabase(
  dir: string,
  pkgs: readonly CachedPackage[],
  opts: DatabaseOptions,
): Promise<string> {
  const libIsLink = pkgs.some((p) => p.manifest.files.some((f) => f.path === 'lib' && f.type === 'symlink'));
  const db = libIsLink ? 'usr/lib/apk/db' : 'lib/apk/db';
  await mkdir(join(dir, db), { recursive: true });
  await mkdir(join(dir, 'etc/apk/keys'), { recursive: true });
  writeFileAtomic(join(dir, db, 'installed'), pkgs.map(installedRecord).join(''));
  writeFileAtomic(join(dir, db, 'lock'), '', 0o600);
  const scripts: Buffer[] = [];
  const triggers: string[] = [];
  for (const p of pkgs) {
    const m = p.manifest;
    for (const [type, body] of Object.entries(m.scripts)) {
      scripts.push(
        encodeEntry(
          {
            name: `${m.name}-${m.version}.${m.checksum}.${type}`,
            type: 'file',
            mode: 0o755,
            mtime: m.builddate ?? 0,
          },
          Buffer.from(body),
        ),
      );
    }
    if (m.triggers.length && m.scripts.trigger !== undefined)
      triggers.push(`${m.checksum} ${m.triggers.join(' ')}\n`);
  }
  writeFileAtomic(join(dir, db, 'scripts.tar'), Buffer.concat([...scripts, EOF_BLOCKS]));
  writeFileAtomic(join(dir, db, 'triggers'), triggers.join(''));
  writeFileAtomic(
    join(dir, 'etc/apk/world'),
    [...opts.world]
      .sort()
      .map((w) => `${w}\n`)
      .join(''),
  );
  writeFileAtomic(
    join(dir, 'etc/apk/repositories'),
    opts.repositories.map((r) => `${formatRepositoryLine(r)}\n`).join(''),
  );
  writeFileAtomic(join(dir, 'etc/apk/arch'), `${opts.arch}\n`);
  for (const [name, k] of opts.keyring?.keys ?? [])
    writeFileAtomic(join(dir, 'etc/apk/keys', name), k.pem, 0o644);
  return db;
}

/**
 * Resolves a relative path inside `root`, following symlinks the way a chroot would: absolute
 * targets restart at `root`, and nothing can climb above it. Returns the real path under root.
 */
async function resolveInRoot(root: string, rel: string): Promise<string> {
  const parts = rel.split('/').filter((c) => c !== '' && c !== '.');
  const stack: string[] = [];
  let hops = 0;
  while (parts.length) {
    const c = parts.shift()!;
    if (c === '..') {
      stack.pop();
      continue;
    }
    const st = await lstat(join(root, ...stack, c)).catch(() => undefined);
    if (st?.isSymbolicLink()) {
      if (++hops > 40)
        throw new ApkError('unsafe-path', `${rel}: too many levels of symbolic links`, { entry: rel });
      const t = await readlink(join(root, ...stack, c));
      if (t.startsWith('/')) stack.length = 0;
      parts.unshift(...t.split('/').filter((x) => x !== '' && x !== '.'));
      continue;
    }
    stack.push(c);
  }
  return join(root, ...stack);
}

/**
 * Copies package trees into one root in install order, applying apk's overwrite rules: a path owned
 * by another package may be replaced only when the contents are identical, the origins match, or
 * the new package `replaces` the old one.
 */
async function mergeTrees(
  root: string,
  pkgs: readonly CachedPackage[],
  opts: { hardlink?: boolean } = {},
): Promise<void> {
  const owner = new Map<string, { pkg: CachedPackage; sha1: string | undefined }>();
  await mkdir(root, { recursive: true });
  for (const p of pkgs) {
    for (const f of p.manifest.files) {
      const slash = f.path.lastIndexOf('/');
      const parentRel = slash < 0 ? '' : f.path.slice(0, slash);
      // Parents may be symlinks left by earlier packages (lib → usr/lib): follow them inside the root.
      const abs = join(await resolveInRoot(root, parentRel), f.path.slice(slash + 1));
      const src = join(p.tree, f.path);
      if (f.type === 'directory') {
        const st = await lstat(abs).catch(() => undefined);
        if (st?.isSymbolicLink()) continue;
        if (!st) {
          await mkdir(abs);
          await chmod(abs, f.mode);
        }
        continue;
      }
      const prev = owner.get(abs);
      if (prev && prev.pkg !== p) {
        if (prev.sha1 === f.sha1) continue;
        const sameOrigin = p.entry.origin && p.entry.origin === prev.pkg.entry.origin;
        if (!sameOrigin && !p.manifest.replaces.includes(prev.pkg.entry.name)) {
          throw new ApkError(
            'file-conflict',
            `${p.entry.name}-${p.entry.version}: trying to overwrite ${f.path} owned by ${prev.pkg.entry.name}-${prev.pkg.entry.version}`,
            { pkg: p.entry.name, entry: f.path },
          );
        }
      }
      const parent = await lstat(dirname(abs)).catch(() => undefined);
      if (!parent?.isDirectory()) {
        throw new ApkError(
          'unsafe-path',
          `${p.entry.name}: ${f.path}: parent is not a directory in the merged root`,
          {
            pkg: p.entry.name,
            entry: f.path,
          },
        );
      }
      const here = await lstat(abs).catch(() => undefined);
      if (here?.isDirectory()) {
        throw new ApkError(
          'file-conflict',
          `${p.entry.name}-${p.entry.version}: ${f.path} is a directory in the root; a ${f.type} cannot replace it`,
          { pkg: p.entry.name, entry: f.path },
        );
      }
      if (here) await rm(abs, { force: true });
      if (f.type === 'symlink') await symlink(await readlink(src), abs);
      else if (opts.hardlink) await link(src, abs);
      else await cp(src, abs, { preserveTimestamps: true });
      if (isRoot()) await lchown(abs, f.uid, f.gid);
      owner.set(abs, { pkg: p, sha1: f.sha1 });
    }
  }
}

export interface InstallOptions {
  packages: readonly ResolvedPackage[];
  repositories: readonly RepositorySpec[];
  arch: string;
  world: readonly string[];
  cacheDir: string;
  /** Trusted keys, copied to etc/apk/keys. */
  keyring?: Keyring;
  /** Where the database layer goes (etc/apk, lib/apk/db); defaults to `<root>` when `root` is set. */
  dbDir?: string;
  /** Also materialise one merged root filesystem here. */
  root?: string;
  /** Parallel downloads (default 4). */
  concurrency?: number;
  /** Hard-link files from the cache into `root` instead of copying (the root must then be read-only). */
  hardlink?: boolean;
  /** Told about every cache hit, download, extraction and entry moved aside. */
  onCacheEvent?: CacheEventSink;
}

/** Cache dirs this process has pruned of old trash and dead temps (once each, off the hot path). */
const pruned = new Set<string>();

export interface InstallResult {
  packages: CachedPackage[];
  dbDir?: string;
  /** Path of the installed DB inside the db dir / root. */
  dbPath: string;
}

/** Fetches, verifies and extracts every package, writes the database, optionally merges a root. */
export async function installPackages(opts: InstallOptions): Promise<InstallResult> {
  if (!pruned.has(opts.cacheDir)) {
    pruned.add(opts.cacheDir);
    await pruneCache(opts.cacheDir);
  }
  const out: CachedPackage[] = new Array(opts.packages.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < opts.packages.length; i = next++) {
      out[i] = await fetchAndExtract(
        opts.packages[i]!,
        opts.repositories,
        opts.arch,
        opts.cacheDir,
        opts.onCacheEvent,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency ?? 4, opts.packages.length) }, worker));
  if (opts.root) await mergeTrees(opts.root, out, { hardlink: opts.hardlink ?? false });
  const dbDir = opts.dbDir ?? opts.root;
  let dbPath = 'lib/apk/db';
  if (dbDir) {
    dbPath = await writeDatabase(dbDir, out, {
      world: opts.world,
      repositories: opts.repositories,
      arch: opts.arch,
      ...(opts.keyring && { keyring: opts.keyring }),
    });
  }
  for (const dir of opts.root ? [opts.root] : []) {
    for (const d of ['tmp', 'proc', 'dev', 'var/cache/apk']) await mkdir(join(dir, d), { recursive: true });
    await chmod(join(dir, 'tmp'), 0o1777);
  }
  await writeFile(join(opts.cacheDir, '.melange2-apk-cache'), '');
  return { packages: out, ...(dbDir !== undefined && { dbDir }), dbPath };
}
