/**
 * Publishing into a cache shared by several processes without a lock: every entry is written
 * under a unique temp name and appears under its final name in one atomic step that never
 * replaces what is already there. An entry under its final name is therefore complete and
 * immutable; a reader (or a BuildKit session sending it) never sees it change. A corrupt entry is
 * renamed aside into `<cache>/trash/`, never rewritten in place.
 */
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, link, lstat, mkdir, readdir, rename, rm, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { tempPath } from './fsutil.js';

/** How a publish ended: our copy became the entry, or an earlier (equivalent) one was kept. */
export type PublishOutcome = 'placed' | 'kept-existing';

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;

export const TRASH_DIR = 'trash';

/** Marker of temp names (see fsutil `tempPath`), so stale ones can be recognised and pruned. */
const TEMP_MARK = '.tmp-';

/**
 * Makes the file `tmp` appear as `dest` unless `dest` exists (link(2) fails with EEXIST instead
 * of replacing, unlike rename(2)); `tmp` is left in place for the caller to read or remove.
 */
export async function publishFile(tmp: string, dest: string): Promise<PublishOutcome> {
  try {
    await link(tmp, dest);
    return 'placed';
  } catch (e) {
    if (errno(e) === 'EEXIST') return 'kept-existing';
    if (errno(e) !== 'EPERM' && errno(e) !== 'ENOTSUP' && errno(e) !== 'ENOSYS') throw e;
  }
  // A filesystem without hard links: rename is atomic too, but replaces, so we look first; the
  // window left can only swap a verified file for an identical-identity verified file. A copy is
  // renamed so that `tmp` stays readable for the caller, as with link.
  if (await exists(dest)) return 'kept-existing';
  const copy = tempPath(dest);
  try {
    await copyFile(tmp, copy);
    await rename(copy, dest);
  } finally {
    await rm(copy, { force: true });
  }
  return 'placed';
}

/**
 * Renames the directory `tmp` to `dest` unless `dest` exists; then `tmp` is removed. rename(2)
 * refuses a non-empty destination (ENOTEMPTY/EEXIST); an empty one it would replace, so we look
 * first: what remains is an empty tree replaced by an identical empty tree.
 */
export async function publishDir(tmp: string, dest: string, cacheDir: string): Promise<PublishOutcome> {
  if (await exists(dest)) {
    await discard(tmp, cacheDir);
    return 'kept-existing';
  }
  try {
    await rename(tmp, dest);
    return 'placed';
  } catch (e) {
    const code = errno(e);
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    await discard(tmp, cacheDir);
    return 'kept-existing';
  }
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

async function trashName(cacheDir: string, path: string): Promise<string> {
  const dir = join(cacheDir, TRASH_DIR);
  await mkdir(dir, { recursive: true });
  return join(dir, `${basename(path)}.${process.pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * Moves a corrupt cache entry aside (atomic rename to a unique trash name). With `expectIno`, only
 * the inode that was found corrupt is moved: if another process has meanwhile put a good entry in
 * its place, that one stays. Returns false when there was nothing (or something else) to move.
 */
export async function moveAside(cacheDir: string, path: string, expectIno?: number): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  if (!st || (expectIno !== undefined && st.ino !== expectIno)) return false;
  try {
    await rename(path, await trashName(cacheDir, path));
    return true;
  } catch (e) {
    // Another process moved it first.
    if (errno(e) === 'ENOENT') return false;
    throw e;
  }
}

/**
 * Removes a private temp tree. It first goes to the trash in one rename, so a failed removal
 * leaves nothing next to real entries; {@link pruneCache} retries what is left there.
 */
export async function discard(path: string, cacheDir: string): Promise<void> {
  if (!(await exists(path))) return;
  const t = await trashName(cacheDir, path);
  await rename(path, t);
  await removeTree(t);
}

/** rm -rf that also copes with read-only directories (package trees may contain 0555 dirs). */
async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true });
  } catch (e) {
    if (errno(e) !== 'EACCES' && errno(e) !== 'EPERM') throw e;
    await makeWritable(path);
    await rm(path, { recursive: true, force: true });
  }
}

async function makeWritable(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st?.isDirectory()) return;
  await chmod(path, 0o700);
  for (const name of await readdir(path)) await makeWritable(join(path, name));
}

export interface PruneResult {
  /** Paths removed: trash entries and temp files/dirs left by processes that died mid-write. */
  removed: string[];
}

/**
 * Deletes trash entries and temps older than `olderThanMs` (default 6 h: far longer than any
 * download or extraction, so nothing still being written is touched).
 */
export async function pruneCache(
  cacheDir: string,
  opts: { olderThanMs?: number; now?: number } = {},
): Promise<PruneResult> {
  const limit = (opts.now ?? Date.now()) - (opts.olderThanMs ?? 6 * 3600_000);
  const removed: string[] = [];
  for (const sub of [TRASH_DIR, 'apk', 'tree']) {
    const dir = join(cacheDir, sub);
    const names = await readdir(dir).catch((e: unknown) => {
      if (errno(e) === 'ENOENT') return [] as string[];
      throw e;
    });
    for (const name of names) {
      if (sub !== TRASH_DIR && !name.includes(TEMP_MARK)) continue;
      const p = join(dir, name);
      const st = await lstat(p).catch(() => undefined);
      if (!st || st.mtimeMs > limit) continue;
      if (st.isDirectory()) await removeTree(p);
      else
        await unlink(p).catch((e: unknown) => {
          if (errno(e) !== 'ENOENT') throw e;
        });
      removed.push(p);
    }
  }
  return { removed };
}
