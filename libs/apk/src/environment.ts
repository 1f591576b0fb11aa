/**
 * The two entry points other packages need: an engine assembling a build environment, and a
 * publisher adding freshly built packages to a repository.
 */
import { existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import { copyFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { IncrementalIndex, type IndexEntry } from './apkindex.js';
import { ApkError } from './errors.js';
import { tempPath } from './fsutil.js';
import { type InstallResult, installPackages } from './install.js';
import type { Keyring } from './keys.js';
import type { SigningKeys } from './pack.js';
import {
  type LoadedRepository,
  loadRepository,
  parseRepositoryLine,
  type RepositorySpec,
} from './repository.js';
import { type Resolution, resolveWorld } from './resolve.js';

interface EnvironmentOptions {
  /** Repository specs, or /etc/apk/repositories-style lines (`URL`, `@tag URL`). */
  repositories: readonly (RepositorySpec | string)[];
  /** Keys every index must be signed by (unless allowUntrusted); also written to etc/apk/keys. */
  keyring?: Keyring;
  allowUntrusted?: boolean;
  arch: string;
  world: readonly string[];
  /** Content-addressed cache of .apk files and per-package trees (shared between builds). */
  cacheDir: string;
  /** Where the apk database layer (etc/apk, lib/apk/db) is written. */
  dbDir?: string;
  /** Also materialise a merged root filesystem. */
  root?: string;
}

interface Environment extends InstallResult {
  repositories: LoadedRepository[];
  resolution: Resolution;
}

/** Loads and verifies the indexes, resolves the world, fetches + verifies + extracts every package. */
export async function buildEnvironment(opts: EnvironmentOptions): Promise<Environment> {
  const specs = opts.repositories.flatMap((r) => {
    if (typeof r !== 'string') return [r];
    const s = parseRepositoryLine(r);
    return s ? [s] : [];
  });
  const repositories = await Promise.all(
    specs.map((s) =>
      loadRepository(s, opts.arch, {
        ...(opts.keyring && { keyring: opts.keyring }),
        allowUntrusted: opts.allowUntrusted ?? false,
      }),
    ),
  );
  const resolution = resolveWorld({ repositories, world: opts.world, arch: opts.arch });
  const installed = await installPackages({
    packages: resolution.packages,
    repositories: specs,
    arch: opts.arch,
    world: opts.world,
    cacheDir: opts.cacheDir,
    ...(opts.keyring && { keyring: opts.keyring }),
    ...(opts.dbDir !== undefined && { dbDir: opts.dbDir }),
    ...(opts.root !== undefined && { root: opts.root }),
  });
  return { ...installed, repositories, resolution };
}

/** Holds `<dir>/.lock` (a directory: mkdir is atomic) while `fn` runs; waits up to `timeoutMs`. */
async function withDirLock<T>(dir: string, fn: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const lock = join(dir, '.apkindex.lock');
  const start = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A lock older than the timeout is left over from a crashed publisher.
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > timeoutMs) rmdirSync(lock);
      else if (Date.now() - start > timeoutMs)
        throw new ApkError('io', `${lock}: still locked after ${timeoutMs} ms`);
      else await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    rmdirSync(lock);
  }
}

interface PublishOptions {
  /** Repository root: packages go to `<repo>/<arch>/`, the index to `<repo>/<arch>/APKINDEX.tar.gz`. */
  repoDir: string;
  arch: string;
  apks: readonly string[];
  signingKey?: SigningKeys;
  /** The existing index must verify against this keyring before it is extended. */
  keyring?: Keyring;
  description?: string;
}

/**
 * Copies packages into a repository and adds them to its index (signed, atomic, serialised by a
 * lock so concurrent publishers do not lose each other's entries). `A:` is rewritten to `arch`, so
 * noarch packages land where apk looks for them.
 */
export async function publishPackages(opts: PublishOptions): Promise<IndexEntry[]> {
  const dir = join(opts.repoDir, opts.arch);
  mkdirSync(dir, { recursive: true });
  return withDirLock(dir, async () => {
    const idxPath = join(dir, 'APKINDEX.tar.gz');
    const idx = IncrementalIndex.open(idxPath, {
      ...(opts.keyring && existsSync(idxPath) && { keyring: opts.keyring }),
      ...(opts.description !== undefined && { description: opts.description }),
    });
    const added = await idx.add(opts.apks, { rewriteArch: opts.arch });
    for (const [i, e] of added.entries()) {
      const dest = join(dir, `${e.name}-${e.version}.apk`);
      const src = opts.apks[i]!;
      if (src === dest) continue;
      const tmp = tempPath(dest);
      await copyFile(src, tmp);
      await rename(tmp, dest);
    }
    idx.save(opts.signingKey ? { signingKey: opts.signingKey } : {});
    return added;
  });
}
