import { mkdirSync } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** In-process queue per lock path, so concurrent builds in one process never race for the file. */
const chains = new Map<string, Promise<unknown>>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock file left by a process that is gone (or older than `staleMs`) may be taken over. */
async function stale(path: string, staleMs: number): Promise<boolean> {
  try {
    const [text, st] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const pid = Number(text.trim());
    if (Number.isInteger(pid) && pid > 0 && !pidAlive(pid)) return true;
    return Date.now() - st.mtimeMs > staleMs;
  } catch {
    return false;
  }
}

async function acquire(path: string, timeoutMs: number, staleMs: number): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (let wait = 20; ; wait = Math.min(wait * 2, 500)) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (await stale(path, staleMs)) {
      await rm(path, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`${path}: still locked after ${timeoutMs} ms`);
    await sleep(wait);
  }
}

/** Runs `fn` holding an exclusive lock file (O_EXCL), across processes and within this one. */
export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  opts: { timeoutMs?: number; staleMs?: number } = {},
): Promise<T> {
  const prev = chains.get(path) ?? Promise.resolve();
  const run = prev.then(
    () => locked(path, fn, opts),
    () => locked(path, fn, opts),
  );
  const tail = run.catch(() => undefined);
  chains.set(path, tail);
  try {
    return await run;
  } finally {
    if (chains.get(path) === tail) chains.delete(path);
  }
}

async function locked<T>(path: string, fn: () => Promise<T>, opts: { timeoutMs?: number; staleMs?: number }) {
  await acquire(path, opts.timeoutMs ?? 120_000, opts.staleMs ?? 600_000);
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}
