import { chmod, cp, lchown, link, lstat, mkdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ApkError } from './errors.js';
import { parseProvide } from './dependency.js';
import { pruneCache } from './cache.js';
import type { Keyring } from './keys.js';
import type { RepositorySpec } from './repository.js';
import { realNames, type ResolvedPackage } from './resolve.js';
import { writeDatabase } from './database.js';
import { isRoot } from './extract.js';
import { type CachedPackage, type CacheEventSink, fetchAndExtract } from './package-cache.js';

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
 * True when `older` provides, without a version, a name `newer` offers by name or versioned
 * provide: it is a stand-in (e.g. a toolchain bundle providing `xz`) and the real package, which
 * the resolver installs after it, may replace its files.
 */
function standsIn(older: CachedPackage, newer: CachedPackage): boolean {
  const real = new Set(realNames(newer.entry));
  return older.entry.provides.some((p) => {
    const pv = parseProvide(p);
    return pv.version === undefined && real.has(pv.name);
  });
}

/**
 * Copies package trees into one root in install order, applying apk's overwrite rules: a path owned
 * by another package may be replaced only when the contents are identical, the origins match, the
 * new package `replaces` the old one, or the old one is a stand-in for the new one (it provides the
 * new package's name unversioned).
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
        if (!sameOrigin && !p.manifest.replaces.includes(prev.pkg.entry.name) && !standsIn(prev.pkg, p)) {
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
