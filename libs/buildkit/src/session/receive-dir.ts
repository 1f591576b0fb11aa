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

/** One export's state: what was created, which files are open, what is still being written. */
class DirReceiver {
  readonly #dirs: { abs: string; stat: Stat }[] = [];
  // Only directories created from this stream (or the root) may hold entries: a symlink sent
  // earlier must never let a later entry escape the destination.
  readonly #knownDirs = new Set<string>(['']);
  readonly #files = new Map<number, PendingFile>();
  readonly #closing = new Set<Promise<void>>();
  #inflight = 0;
  #index = 0;
  #statsDone = false;
  finSent = false;
  failure: Error | undefined;

  constructor(
    readonly call: grpc.ServerDuplexStream<Buffer, Buffer>,
    readonly root: string,
  ) {}

  /** The empty STAT: every entry has been announced. */
  async statsDone(): Promise<void> {
    this.#statsDone = true;
    await this.#maybeFinish();
  }

  async #maybeFinish(): Promise<void> {
    if (!this.#statsDone || this.#files.size > 0 || this.finSent) return;
    await Promise.all(this.#closing);
    if (this.failure) throw this.failure;
    // Directory mtimes change as children are written, so set them last, deepest first.
    for (const d of this.#dirs.reverse()) {
      await chmod(d.abs, unixPerm(d.stat.mode));
      const t = toTime(d.stat.modTime);
      await utimes(d.abs, t, t);
    }
    this.finSent = true;
    this.call.write(encodePacket({ type: PacketType.FIN, id: 0 }));
  }

  async onStat(s: Stat): Promise<void> {
    const id = this.#index++;
    checkRel(s.path);
    const parent = posix.dirname(s.path);
    if (!this.#knownDirs.has(parent === '.' ? '' : parent)) {
      throw new Error(`export: ${JSON.stringify(s.path)} arrived before its parent directory`);
    }
    const abs = join(this.root, s.path);
    switch (kindOf(s.mode)) {
      case 'dir':
        await clearFor(abs, 'dir');
        await mkdir(abs, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e;
        });
        this.#knownDirs.add(s.path);
        this.#dirs.push({ abs, stat: s });
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
          await link(join(this.root, s.linkname), abs);
          break;
        }
        this.#files.set(id, { abs, stat: s, chain: undefined });
        // Never wait for 'drain' here: the daemon may be blocked sending DATA until we read
        // again, and waiting would deadlock. REQs are a few bytes each.
        this.call.write(encodePacket({ type: PacketType.REQ, id }));
        break;
      default:
        // Devices, fifos and sockets cannot be recreated without privileges; skip them.
        break;
    }
  }

  async onData(id: number, data: Buffer | undefined): Promise<void> {
    const f = this.#files.get(id);
    if (!f) throw new Error(`export: data for unknown file id ${id}`);
    // Opening at the first DATA (not at STAT) keeps descriptors to the files in transfer.
    f.chain ??= clearFor(f.abs, 'other').then(() => open(f.abs, 'w', 0o600));
    if (data && data.length > 0) {
      this.#inflight += data.length;
      f.chain = f.chain.then(async (fh) => {
        await fh.write(data, 0, data.length);
        this.#inflight -= data.length;
        return fh;
      });
      // Only wait on work that needs no further packets, or this loop could deadlock.
      while (this.#inflight > MAX_INFLIGHT_BYTES) await Promise.race([f.chain, ...this.#closing]);
      return;
    }
    this.#files.delete(id);
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
        this.failure ??= new Error(`export: writing ${f.abs}: ${(e as Error).message}`, { cause: e });
      })
      .finally(() => this.#closing.delete(done));
    this.#closing.add(done);
    while (this.#closing.size > MAX_CLOSING) await Promise.race(this.#closing);
    await this.#maybeFinish();
  }

  /** Closes what a failed or cut-short transfer left open. */
  async close(): Promise<void> {
    for (const f of this.#files.values()) await f.chain?.then((fh) => fh.close()).catch(() => {});
    await Promise.all(this.#closing);
  }
}

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
  const r = new DirReceiver(call, root);
  try {
    for await (const buf of call as AsyncIterable<Buffer>) {
      if (r.failure) throw r.failure;
      const p = decodePacket(buf);
      switch (p.type) {
        case PacketType.STAT:
          if (p.stat) await r.onStat(p.stat);
          else await r.statsDone();
          break;
        case PacketType.DATA:
          await r.onData(p.id, p.data);
          break;
        case PacketType.FIN:
          // The daemon's answer to our FIN; it does not half-close, so end the RPC here.
          if (!r.finSent) throw new Error('export: the daemon finished before sending every file');
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
    if (r.finSent) return;
    throw e;
  } finally {
    await r.close();
  }
  if (!r.finSent) throw new Error('export: the daemon closed the transfer early');
}
