import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { environmentKey, FileBackedMemo, installationKey, keyringId } from './memo.js';
import {
  ApkError,
  type CachedPackage,
  fetchBytes,
  installPackages,
  Keyring,
  type LoadedRepository,
  loadRepository,
  parseRepositoryLine,
  publicPemOf,
  type RepositorySpec,
  repoLocation,
  resolveWorld,
  type SigningKey,
} from '@melange2/apk';

/** What kind of environment failure: an unreadable repository or key, a bad signature, a world apk cannot satisfy, a fetch. */
export type EnvironmentFailure =
  | 'repository'
  | 'keyring'
  | 'signature'
  | 'unsatisfiable'
  | 'fetch'
  | 'package'
  | 'awaiting';
/** `ENVIRONMENT_REPOSITORY`, `ENVIRONMENT_KEYRING`, … one per {@link EnvironmentFailure}. */
export type EnvironmentErrorCode = `ENVIRONMENT_${Uppercase<EnvironmentFailure>}`;

/** Why an environment could not be made; raised before BuildKit is called. */
export class EnvironmentError extends Error {
  override readonly name = 'EnvironmentError';
  readonly code: EnvironmentErrorCode;
  /** The arch the environment was for, when known. */
  readonly arch: string | undefined;
  /** The package at fault, when one is. */
  readonly pkg: string | undefined;
  constructor(
    readonly reason: EnvironmentFailure,
    message: string,
    options: { readonly cause?: unknown; readonly arch?: string; readonly pkg?: string } = {},
  ) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.code = `ENVIRONMENT_${reason.toUpperCase() as Uppercase<EnvironmentFailure>}`;
    this.arch = options.arch;
    this.pkg = options.pkg;
  }
}

export interface EnvironmentRequest {
  readonly arch: string;
  /** The world: package names and constraints (`busybox`, `so:libc.so.6`, `foo>=1`). */
  readonly packages: readonly string[];
  /**
   * Repositories in priority order: the local output repository first, then `--repository-append`,
   * then the config's. A local directory without `<arch>/APKINDEX.tar.gz` is skipped (nothing
   * built there yet); any other unreadable repository fails.
   */
  readonly repositories: readonly string[];
  /** Public key files, directories or URLs (`--keyring-append`, the config's `keyring`). */
  readonly keyring: readonly string[];
  /** Our signing key: its public half is trusted (the local repository is signed with it). */
  readonly signingKey?: SigningKey;
  /** Content-addressed package cache (`apk/`, `tree/`): extracted trees are reused across builds. */
  readonly cacheDir: string;
  /**
   * Package names (and names they provide) that the same run is about to produce and has not
   * yet published: resolving any of them now would install an older provider than the run's
   * (the bootstrap's, or an earlier run's), so the environment fails instead
   * (`ENVIRONMENT_AWAITING`) and the build can be dispatched again once they exist.
   */
  readonly awaiting?: readonly string[];
}

/** The first resolved package that is, or provides, a name the run has yet to produce. */
function awaitedIn(
  packages: readonly { entry: { name: string; version: string; provides: readonly string[] } }[],
  awaiting: ReadonlySet<string>,
): { pkg: string; name: string } | undefined {
  for (const { entry } of packages) {
    if (awaiting.has(entry.name)) return { pkg: `${entry.name}-${entry.version}`, name: entry.name };
    for (const p of entry.provides) {
      const name = p.split(/[<>=~]/)[0]!;
      if (awaiting.has(name)) return { pkg: `${entry.name}-${entry.version}`, name };
    }
  }
  return undefined;
}

/** Fails with `ENVIRONMENT_AWAITING` when the packages hold a name the run has yet to produce. */
function checkAwaiting(
  req: EnvironmentRequest,
  packages: readonly { entry: { name: string; version: string; provides: readonly string[] } }[],
): void {
  const hit = req.awaiting?.length ? awaitedIn(packages, new Set(req.awaiting)) : undefined;
  if (hit)
    throw new EnvironmentError(
      'awaiting',
      `the environment for ${req.arch} would install ${hit.pkg} for ${hit.name}, which this run has yet to build: it must wait for it`,
      { arch: req.arch, pkg: hit.name },
    );
}

/** A file of the generated layer (installed database, accounts), relative to `/`. */
export interface GeneratedFile {
  readonly path: string;
  readonly mode: number;
  readonly data: Buffer;
}

export interface ResolvedEnvironment {
  readonly arch: string;
  /** Install order: every package after its dependencies. */
  readonly packages: readonly CachedPackage[];
  readonly repositories: readonly RepositorySpec[];
  readonly keyring: Keyring;
  /** The apk database files (lib/apk/db/*, etc/apk/*), to go into the generated layer. */
  readonly database: readonly GeneratedFile[];
}

const isUrl = (s: string) => /^https?:\/\//.test(s);

async function loadKeyring(
  paths: readonly string[],
  signingKey: SigningKey | undefined,
  arch: string,
): Promise<Keyring> {
  const kr = new Keyring();
  if (signingKey) kr.add(signingKey.publicName, publicPemOf(signingKey));
  for (const p of paths) {
    try {
      if (isUrl(p)) {
        kr.add(basename(new URL(p).pathname), (await fetchBytes(p)).toString('utf8'));
        continue;
      }
      for (const [name, k] of Keyring.load([p]).keys) kr.add(name, k.pem);
    } catch (e) {
      throw new EnvironmentError('keyring', `keyring ${p}: ${(e as Error).message}`, { cause: e, arch });
    }
  }
  return kr;
}

function dedupeRepos(lines: readonly string[], arch: string): RepositorySpec[] {
  const seen = new Set<string>();
  const out: RepositorySpec[] = [];
  for (const l of lines) {
    let spec: RepositorySpec | undefined;
    try {
      spec = parseRepositoryLine(l);
    } catch (e) {
      throw new EnvironmentError('repository', (e as Error).message, { cause: e, arch });
    }
    if (!spec) continue;
    const key = `${spec.tag ?? ''} ${spec.url.replace(/\/+$/, '')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(spec);
  }
  return out;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const rec = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await rec(p);
      else if (e.isFile()) out.push(p);
    }
  };
  await rec(dir);
  return out.sort();
}

/** Verified indexes by repository, arch and keyring: a local one until its file changes, a remote one for a minute. */
const indexCache = new Map<string, { stamp: string; at: number; repo: LoadedRepository }>();
const REMOTE_TTL_MS = 60_000;

/** `loadRepository`, reusing the parsed index while it is unchanged (agents build many packages per process). */
async function loadCached(spec: RepositorySpec, arch: string, keyring: Keyring): Promise<LoadedRepository> {
  const key = `${spec.tag ?? ''} ${spec.url} ${arch} ${keyringId(keyring)}`;
  let stamp = '';
  if (!isUrl(spec.url)) {
    const st = await stat(repoLocation(spec, arch, 'APKINDEX.tar.gz'));
    stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
  }
  const hit = indexCache.get(key);
  if (hit && hit.stamp === stamp && (stamp !== '' || Date.now() - hit.at < REMOTE_TTL_MS)) return hit.repo;
  const repo = await loadRepository(spec, arch, { keyring });
  if (indexCache.size > 64) indexCache.clear();
  indexCache.set(key, { stamp, at: Date.now(), repo });
  return repo;
}

/**
 * One environment at a time per cache within a process. The cache itself is safe under
 * concurrent installs (libs/apk places files and trees atomically and never replaces a tree);
 * this only spares two builds that miss the same package from both downloading and extracting it.
 */
const cacheQueues = new Map<string, Promise<unknown>>();
async function serialized<T>(cacheDir: string, fn: () => Promise<T>): Promise<T> {
  const prev = cacheQueues.get(cacheDir) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  cacheQueues.set(cacheDir, tail);
  try {
    return await run;
  } finally {
    if (cacheQueues.get(cacheDir) === tail) cacheQueues.delete(cacheDir);
  }
}

/**
 * Resolved environments by their inputs, and by what was resolved (see memo.ts): valid while
 * their cached trees and files exist. The second catches an index that changed without changing
 * the resolution, and gives the same object (so its layers are memoized too).
 */
const treesOf = (env: ResolvedEnvironment) => env.packages.flatMap((p) => [p.tree, p.apk]);
const resolved = new FileBackedMemo<ResolvedEnvironment>(treesOf);
const installed = new FileBackedMemo<ResolvedEnvironment>(treesOf);

/**
 * Resolves and fetches a build environment with libs/apk: keys, repository indexes (verified),
 * the world resolved, every package verified and extracted once into the cache, and the apk
 * database written. Every failure is an {@link EnvironmentError} naming its cause.
 */
export async function resolveEnvironment(req: EnvironmentRequest): Promise<ResolvedEnvironment> {
  const keyring = await loadKeyring(req.keyring, req.signingKey, req.arch);
  const specs: RepositorySpec[] = [];
  const loaded: LoadedRepository[] = [];
  for (const spec of dedupeRepos(req.repositories, req.arch)) {
    const local = !isUrl(spec.url);
    if (local && !existsSync(repoLocation(spec, req.arch, 'APKINDEX.tar.gz'))) continue;
    try {
      loaded.push(await loadCached(spec, req.arch, keyring));
      specs.push(spec);
    } catch (e) {
      if (e instanceof ApkError) {
        const reason =
          e.code === 'fetch-failed'
            ? 'repository'
            : ['bad-signature', 'untrusted', 'unsigned'].includes(e.code)
              ? 'signature'
              : 'repository';
        throw new EnvironmentError(reason, `repository ${spec.url} (${req.arch}): ${e.message}`, {
          cause: e,
          arch: req.arch,
        });
      }
      throw e;
    }
  }
  const key = environmentKey({
    arch: req.arch,
    world: req.packages,
    keyring,
    repositories: loaded.map((l, i) => ({ spec: specs[i]!, loaded: l })),
    cacheDir: req.cacheDir,
  });
  const memo = resolved.get(key);
  if (memo) {
    checkAwaiting(req, memo.packages);
    return memo;
  }
  let resolution: ReturnType<typeof resolveWorld>;
  try {
    resolution = resolveWorld({ repositories: loaded, world: req.packages, arch: req.arch });
  } catch (e) {
    if (e instanceof ApkError)
      throw new EnvironmentError(
        'unsatisfiable',
        `cannot resolve the environment for ${req.arch} (${req.packages.join(' ')}) from ${specs.map((s) => s.url).join(', ') || 'no repositories'}: ${e.message}`,
        { cause: e, arch: req.arch },
      );
    throw e;
  }
  checkAwaiting(req, resolution.packages);
  const installKey = installationKey({
    arch: req.arch,
    world: req.packages,
    keyring,
    repositories: specs,
    cacheDir: req.cacheDir,
    packages: resolution.packages,
  });
  const same = installed.get(installKey);
  if (same) {
    resolved.set(key, same);
    return same;
  }
  const dbDir = await mkdtemp(join(tmpdir(), 'm2-envdb-'));
  try {
    const result = await serialized(req.cacheDir, () =>
      installPackages({
        packages: resolution.packages,
        repositories: specs,
        arch: req.arch,
        world: req.packages,
        cacheDir: req.cacheDir,
        keyring,
        dbDir,
      }),
    );
    const database: GeneratedFile[] = [];
    for (const f of await listFiles(dbDir)) {
      const rel = relative(dbDir, f);
      database.push({ path: rel, mode: rel.endsWith('/lock') ? 0o600 : 0o644, data: await readFile(f) });
    }
    const env = { arch: req.arch, packages: result.packages, repositories: specs, keyring, database };
    resolved.set(key, env);
    installed.set(installKey, env);
    return env;
  } catch (e) {
    if (e instanceof ApkError)
      throw new EnvironmentError(
        e.code.includes('signature') || e.code.includes('mismatch') ? 'signature' : 'fetch',
        `environment for ${req.arch}: ${e.message}`,
        { cause: e, arch: req.arch },
      );
    throw e;
  } finally {
    await rm(dbDir, { recursive: true, force: true });
  }
}
