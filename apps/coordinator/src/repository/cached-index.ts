import type { RepositoryStore } from './store.js';

/**
 * A store whose indexes are also kept in memory once read or written here. The coordinator is
 * the single index writer, so its copy is the current one; serving it from memory also keeps
 * readers away from an index object that is being replaced (an Object Store read racing a write
 * can wait for chunks that are gone).
 */
export class CachedIndexStore implements RepositoryStore {
  readonly description: string;
  readonly #indexes = new Map<string, Buffer>();

  constructor(readonly inner: RepositoryStore) {
    this.description = inner.description;
  }

  putApk(arch: string, filename: string, source: string): Promise<void> {
    return this.inner.putApk(arch, filename, source);
  }

  async putIndex(arch: string, bytes: Buffer): Promise<void> {
    await this.inner.putIndex(arch, bytes);
    this.#indexes.set(arch, bytes);
  }

  async readIndex(arch: string): Promise<Buffer | undefined> {
    const hit = this.#indexes.get(arch);
    if (hit) return hit;
    const bytes = await this.inner.readIndex(arch);
    if (bytes && !this.#indexes.has(arch)) this.#indexes.set(arch, bytes);
    return this.#indexes.get(arch) ?? bytes;
  }

  open(arch: string, filename: string) {
    return this.inner.open(arch, filename);
  }

  list(arch: string): Promise<string[]> {
    return this.inner.list(arch);
  }
}
