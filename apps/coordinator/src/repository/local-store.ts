import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { filesEqual } from './files-equal.js';
import { checkName, INDEX_NAME, RepositoryError, type RepositoryStore } from './store.js';

/** A repository in a local directory (the embedded mode's `packages/`). */
export class LocalRepositoryStore implements RepositoryStore {
  readonly description: string;
  constructor(readonly root: string) {
    this.description = root;
  }

  #path(arch: string, filename: string): string {
    checkName(arch, filename);
    return join(this.root, arch, filename);
  }

  async #atomically(dest: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const tmp = `${dest}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    await mkdir(join(dest, '..'), { recursive: true });
    try {
      await write(tmp);
      await rename(tmp, dest);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async putApk(arch: string, filename: string, source: string): Promise<void> {
    const dest = this.#path(arch, filename);
    const existing = await stat(dest).catch(() => undefined);
    if (existing) {
      if (await filesEqual(dest, source)) return;
      throw new RepositoryError(
        'published already with other content (packages are never overwritten)',
        arch,
        filename,
      );
    }
    await this.#atomically(dest, (tmp) => copyFile(source, tmp));
  }

  async putIndex(arch: string, bytes: Buffer): Promise<void> {
    await this.#atomically(this.#path(arch, INDEX_NAME), (tmp) => writeFile(tmp, bytes));
  }

  async readIndex(arch: string): Promise<Buffer | undefined> {
    return readFile(this.#path(arch, INDEX_NAME)).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
  }

  async open(arch: string, filename: string) {
    const p = this.#path(arch, filename);
    const st = await stat(p).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    return { stream: createReadStream(p), size: st.size };
  }

  async list(arch: string): Promise<string[]> {
    checkName(arch, INDEX_NAME);
    const names = await readdir(join(this.root, arch)).catch(() => [] as string[]);
    return names.filter((n) => !n.includes('.tmp-')).sort();
  }
}
