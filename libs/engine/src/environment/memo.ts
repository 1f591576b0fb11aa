import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Keyring, LoadedRepository, RepositorySpec, ResolvedPackage } from '@melange2/apk';

/**
 * Resolved environments of this process, by everything a resolution reads: the arch, the world
 * (in order: it is written to `etc/apk/world`), the trusted keys, the exact bytes of every
 * repository index consulted (their digests, in priority order, with their tags) and the package
 * cache the trees live in. A warm rebuild of an unchanged config then neither resolves, reads
 * package manifests nor writes the apk database again; any changed input is another key.
 * Bounded: the least recently used entry goes first (an entry holds its packages' manifests and
 * database, megabytes for a large toolchain; a long-lived agent keeps a few environments).
 */
const MAX_ENTRIES = 8;

export interface MemoInputs {
  readonly arch: string;
  readonly world: readonly string[];
  readonly keyring: Keyring;
  readonly repositories: readonly { readonly spec: RepositorySpec; readonly loaded: LoadedRepository }[];
  readonly cacheDir: string;
}

/** A digest of the trusted keys (names and PEMs). */
export function keyringId(kr: Keyring): string {
  const h = createHash('sha256');
  for (const [name, k] of [...kr.keys].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    h.update(`${name}\0${k.pem}\0`);
  return h.digest('hex');
}

/**
 * The memo key of an installed environment: what was resolved (every index entry as given, the
 * repository it came from) and what the apk database records besides (world, repositories, keys).
 * An index that changed elsewhere (the output repository after each build) keeps this key.
 */
export function installationKey(i: {
  readonly arch: string;
  readonly world: readonly string[];
  readonly keyring: Keyring;
  readonly repositories: readonly RepositorySpec[];
  readonly cacheDir: string;
  readonly packages: readonly ResolvedPackage[];
}): string {
  const h = createHash('sha256');
  const put = (s: string) => h.update(`${s.length}:${s}`);
  put(i.arch);
  put(resolve(i.cacheDir));
  put(keyringId(i.keyring));
  put(JSON.stringify(i.world));
  put(JSON.stringify(i.repositories.map((r) => [r.tag ?? '', r.url])));
  for (const p of i.packages) put(JSON.stringify([p.repository, p.tag ?? '', p.entry]));
  return h.digest('hex');
}

/** The memo key of a resolution: a digest of its inputs. */
export function environmentKey(i: MemoInputs): string {
  const h = createHash('sha256');
  const put = (s: string) => h.update(`${s.length}:${s}`);
  put(i.arch);
  put(resolve(i.cacheDir));
  put(String(i.world.length));
  for (const w of i.world) put(w);
  put(keyringId(i.keyring));
  put(String(i.repositories.length));
  for (const r of i.repositories) {
    put(r.spec.tag ?? '');
    put(r.spec.url);
    put(r.loaded.digest);
  }
  return h.digest('hex');
}

/** A memo of values whose files must still exist: an entry whose files are gone is dropped. */
export class FileBackedMemo<T> {
  readonly #entries = new Map<string, T>();
  constructor(
    readonly files: (value: T) => readonly string[],
    readonly max = MAX_ENTRIES,
  ) {}

  get(key: string): T | undefined {
    const v = this.#entries.get(key);
    if (v === undefined) return undefined;
    this.#entries.delete(key);
    // The package cache may have been cleared behind our back (`cache clean`, another process).
    if (!this.files(v).every((f) => existsSync(f))) return undefined;
    this.#entries.set(key, v);
    return v;
  }

  set(key: string, value: T): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    while (this.#entries.size > this.max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  clear(): void {
    this.#entries.clear();
  }
}
