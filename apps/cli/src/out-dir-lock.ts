/**
 * One `build-all` per output directory. Two runs into one directory would share its run state,
 * staging and index (false publish failures, an index missing a package on disk), so a run holds
 * `<out-dir>/.melange2-lock` for its whole length; a second one waits for it or, asked to, refuses.
 *
 * The lock file appears whole or not at all: the record is written to a private file first and
 * then hard-linked into place, which fails if the lock exists (an O_EXCL create would let a
 * reader see it empty). Nothing ever rewrites it; it is only removed, by its holder on release,
 * or as a stale lock by whoever wins the takeover (see `removeStale`). Hand-written because the
 * well-known lock libraries judge staleness by age, while a run may rightly take hours: here a
 * lock is stale exactly when its process is gone.
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const LOCK_NAME = '.melange2-lock';

/** Who holds an output directory. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly startedAt: string;
}

export const describeHolder = (h: LockHolder | undefined): string =>
  h ? `pid ${h.pid} on ${h.host}, started ${h.startedAt}` : 'an unreadable lock record';

/** The output directory is held by another run, and the caller asked not to wait. */
class OutDirLockedError extends Error {
  override readonly name = 'OutDirLockedError';
  readonly code = 'OUT_DIR_LOCKED';
  constructor(
    readonly lockPath: string,
    readonly holder: LockHolder | undefined,
  ) {
    super(
      `${lockPath}: the output directory is in use by another build-all (${describeHolder(holder)}); ` +
        'run again without --no-wait to wait for it, or remove the file if that run is surely gone',
    );
  }
}

export interface HeldLock {
  readonly path: string;
  release(): Promise<void>;
}

export interface LockOptions {
  /** false: refuse at once (`OutDirLockedError`) when another run holds the directory. */
  readonly wait: boolean;
  /** Told once, when this run starts waiting. */
  readonly onWait?: (holder: LockHolder | undefined, path: string) => void;
  /** Told when a dead process's lock is taken over. */
  readonly onTakeover?: (holder: LockHolder, path: string) => void;
  /** How often a waiting run looks again (default 500 ms). */
  readonly pollMs?: number;
}

/** Takes `<dir>/.melange2-lock` (creating `dir`), waiting for or refusing a live holder. */
export async function lockOutDir(dir: string, o: LockOptions): Promise<HeldLock> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, LOCK_NAME);
  const mine = recordText({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() });
  let waiting = false;
  for (;;) {
    if (await createExclusive(path, mine))
      return {
        path,
        release: async () => {
          await removeIfHolds(path, mine);
        },
      };
    const seen = await readIfExists(path);
    if (seen === undefined) continue; // released meanwhile
    const holder = parseHolder(seen);
    if (holder && isGone(holder)) {
      if (await removeStale(path, seen)) o.onTakeover?.(holder, path);
      // Another run is taking it over: give it a moment rather than spin.
      else await delay(50);
      continue;
    }
    if (!o.wait) throw new OutDirLockedError(path, holder);
    if (!waiting) o.onWait?.(holder, path);
    waiting = true;
    await delay(o.pollMs ?? 500);
  }
}

const recordText = (h: LockHolder): string => `${JSON.stringify(h)}\n`;

/** The holder a lock file names, or undefined when it is not a record this version wrote. */
function parseHolder(text: string): LockHolder | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return undefined;
    const { pid, host, startedAt } = v as Record<string, unknown>;
    if (!Number.isInteger(pid) || typeof host !== 'string' || typeof startedAt !== 'string') return undefined;
    return { pid: pid as number, host, startedAt };
  } catch {
    return undefined; // not JSON: an unknown holder, never taken over automatically
  }
}

/** A holder on this host whose process no longer exists. Another host's lock is never judged. */
function isGone(h: LockHolder): boolean {
  if (h.host !== hostname() || h.pid === process.pid) return false;
  try {
    process.kill(h.pid, 0);
    return false;
  } catch (e) {
    // EPERM: the process exists (another user's).
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Creates `path` holding `text`, whole, unless it exists: false then. */
async function createExclusive(path: string, text: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, text, { flag: 'wx' });
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await unlink(tmp);
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Removes `path` if it still holds `text`. Safe without a race because a lock file's content
 * never changes in place: to hold something else, it must first be removed, and only its
 * holder (this process, for `release`) or the winner of its takeover removes it.
 */
async function removeIfHolds(path: string, text: string): Promise<boolean> {
  if ((await readIfExists(path)) !== text) return false;
  await unlink(path);
  return true;
}

/**
 * Removes a dead process's lock `path`, last seen holding `seen`. Of all the runs that saw it,
 * only the one that creates the takeover marker named after that content removes it, and only
 * if the lock still holds it; a run that comes later finds another content and leaves it. A
 * marker whose own creator died is stale in turn and taken over the same way.
 */
async function removeStale(path: string, seen: string): Promise<boolean> {
  const marker = `${path}.takeover-${createHash('sha256').update(seen).digest('hex').slice(0, 16)}`;
  const mine = recordText({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() });
  if (!(await createExclusive(marker, mine))) {
    const other = await readIfExists(marker);
    const holder = other === undefined ? undefined : parseHolder(other);
    if (other !== undefined && holder && isGone(holder)) await removeStale(marker, other);
    return false; // another run is taking it over (or was): look again
  }
  try {
    return await removeIfHolds(path, seen);
  } finally {
    await unlink(marker);
  }
}
