import type { FileHandle } from 'node:fs/promises';
import { chmod, link, lstat, lutimes, mkdir, open, rm, symlink, utimes } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { kindOf, unixPerm } from './fsmode.js';
import { decodePacket, encodePacket, PacketType, type Stat } from './wire.js';

interface PendingFile {
  readonly abs: string;
  readonly stat: Stat;
  /** Every operation on this file, in order: open (at its first DATA), writes, then close. */
  chain: Promise<FileHandle> | undefined;
}

function checkRel(p: string): void {
  if (p === '' || p.startsWith('/') || p.split('/').some((x) => x === '..' || x === '.' || x === '')) {
    throw new Error(`export: refusing unsafe path ${JSON.stringify(p)}`);
  }
}

async function clearFor(abs: string, want: 'dir' | 'other'): Promise<void> {
  try {
    const st = await lstat(abs);
    if (want === 'dir' && st.isDirectory()) return;
    await rm(abs, { recursive: true, force: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

function toTime(ns: bigint): number {
  return Number(ns / 1000n) / 1e6;
}

/** Bytes of file data accepted but not yet written before reading waits. */
const MAX_INFLIGHT_BYTES = 64 << 20;
/** Completed files still being written before reading waits (bounds open descriptors). */
const MAX_CLOSING = 256;

/**
 * The fsutil receiver for the `local` exporter: STATs create entries and REQ file contents,
 * DATA fills them, then FIN/FIN. File writes are pipelined: each file has its own chain of
 * operations, many files progress at once on the thread pool, and the packet loop only waits
 * when too much is in flight. Awaiting each write in turn made exports of many small files
 * take several times longer.
 */
export async function receiveDir(call: grpc.ServerDuplexStream<Buffer, Buffer>, dest: string): Promise<void> {
  const root = resolve(dest);
  await mkdir(root, { recursive: true });
  const dirs: { abs: string; stat: Stat }[] = [];
  // Only directories created from this stream (or the root) may hold entries: a symlink sent
  // earlier must never let a later entry escape the destination.
  const knownDirs = new Set<string>(['']);
  const files = new Map<number, PendingFile>();
  const closing = new Set<Promise<void>>();
  let inflight = 0;
  let index = 0;
  let statsDone = false;
  let finSent = false;
  let failure: Error | undefined;

  const maybeFinish = async () => {
    if (!statsDone || files.size > 0 || finSent) return;
    await Promise.all(closing);
    if (failure) throw failure;
    // Directory mtimes change as children are written, so set them last, deepest first.
    for (const d of dirs.reverse()) {
      await chmod(d.abs, unixPerm(d.stat.mode));
      const t = toTime(d.stat.modTime);
      await utimes(d.abs, t, t);
    }
    finSent = true;
    call.write(encodePacket({ type: PacketType.FIN, id: 0 }));
  };

  const onStat = async (s: Stat) => {
    const id = index++;
    checkRel(s.path);
    const parent = posix.dirname(s.path);
    if (!knownDirs.has(parent === '.' ? '' : parent)) {
      throw new Error(`export: ${JSON.stringify(s.path)} arrived before its parent directory`);
    }
    const abs = join(root, s.path);
    switch (kindOf(s.mode)) {
      case 'dir':
        await clearFor(abs, 'dir');
        await mkdir(abs, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        });
        knownDirs.add(s.path);
        dirs.push({ abs, stat: s });
        break;
      case 'symlink': {
        await clearFor(abs, 'other');
        await symlink(s.linkname, abs);
        const t = toTime(s.modTime);
        await lutimes(abs, t, t);
        break;
      }
      case 'file':
        if (s.linkname !== '') {
          checkRel(s.linkname);
          await clearFor(abs, 'other');
          await link(join(root, s.linkname), abs);
          break;
        }
        files.set(id, { abs, stat: s, chain: undefined });
        // Never wait for 'drain' here: the daemon may be blocked sending DATA until we read
        // again, and waiting would deadlock. REQs are a few bytes each.
        call.write(encodePacket({ type: PacketType.REQ, id }));
        break;
      default:
        // Devices, fifos and sockets cannot be recreated without privileges; skip them.
        break;
    }
  };

  const onData = async (id: number, data: Buffer | undefined) => {
    const f = files.get(id);
    if (!f) throw new Error(`export: data for unknown file id ${id}`);
    // Opening at the first DATA (not at STAT) keeps descriptors to the files in transfer.
    f.chain ??= clearFor(f.abs, 'other').then(() => open(f.abs, 'w', 0o600));
    if (data && data.length > 0) {
      inflight += data.length;
      f.chain = f.chain.then(async (fh) => {
        await fh.write(data, 0, data.length);
        inflight -= data.length;
        return fh;
      });
      // Only wait on work that needs no further packets, or this loop could deadlock.
      while (inflight > MAX_INFLIGHT_BYTES) await Promise.race([f.chain, ...closing]);
      return;
    }
    files.delete(id);
    const done: Promise<void> = f.chain
      .then(async (fh) => {
        try {
          await fh.chmod(unixPerm(f.stat.mode));
          const t = toTime(f.stat.modTime);
          await fh.utimes(t, t);
        } finally {
          await fh.close();
        }
      })
      .catch((e: unknown) => {
        failure ??= new Error(`export: writing ${f.abs}: ${(e as Error).message}`, { cause: e });
      })
      .finally(() => closing.delete(done));
    closing.add(done);
    while (closing.size > MAX_CLOSING) await Promise.race(closing);
    await maybeFinish();
  };

  try {
    for await (const buf of call as AsyncIterable<Buffer>) {
      if (failure) throw failure;
      const p = decodePacket(buf);
      switch (p.type) {
        case PacketType.STAT:
          if (p.stat) await onStat(p.stat);
          else {
            statsDone = true;
            await maybeFinish();
          }
          break;
        case PacketType.DATA:
          await onData(p.id, p.data);
          break;
        case PacketType.FIN:
          // The daemon's answer to our FIN; it does not half-close, so end the RPC here.
          if (!finSent) throw new Error('export: the daemon finished before sending every file');
          call.end();
          return;
        case PacketType.ERR:
          throw new Error(`export failed on the daemon: ${p.data?.toString() ?? 'unknown error'}`);
        case PacketType.REQ:
          throw new Error('export: unexpected REQ from the daemon');
      }
    }
  } catch (e) {
    // After our FIN the daemon may cancel the RPC before its FIN is read: the transfer is complete.
    if (finSent) return;
    throw e;
  } finally {
    for (const f of files.values()) await f.chain?.then((fh) => fh.close()).catch(() => {});
    await Promise.all(closing);
  }
  if (!finSent) throw new Error('export: the daemon closed the transfer early');
}
