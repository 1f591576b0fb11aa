import { once } from 'node:events';
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { GoMode } from './fsmode.js';
import { rawMethod } from './raw-method.js';
import type { Attachable } from './session.js';
import { walk } from './walk.js';
import {
  DATA_HEADROOM,
  dataPacketInPlace,
  decodePacket,
  encodePacket,
  type Packet,
  PacketType,
} from './wire.js';

/** A directory served to the daemon for `llb.local(name)`. */
export interface LocalDir {
  readonly path: string;
  /** Client-side filters, applied on top of the patterns the daemon sends from the LLB attrs. */
  readonly exclude?: readonly string[];
}

const CHUNK = 1 << 20;
const PARALLEL_FILES = 4;

/** Decodes values of a metadata key; the daemon URL-escapes non-ASCII values and marks them. */
function metaValues(md: grpc.Metadata, key: string): string[] {
  // Node's HTTP/2 joins repeated headers with ", ", so one value may hold several patterns.
  const vals = md
    .get(key)
    .flatMap((v) => v.toString().split(', '))
    .filter((v) => v !== '');
  const encoded = md.get(`${key}-encoded`).some((v) => v.toString() === '1');
  return encoded ? vals.map((v) => decodeURIComponent(v.replace(/\+/g, ' '))) : vals;
}

/** Writes packets with backpressure; writes from concurrent senders are serialized by the stream. */
async function writePacket(call: grpc.ServerDuplexStream<Buffer, Buffer>, p: Packet): Promise<void> {
  await send(call, encodePacket(p));
}

/** Queued messages before small writes wait for 'drain'. */
const MAX_QUEUED = 1024;

/**
 * Writes one message with backpressure. grpc-js streams are in object mode with a high-water
 * mark of 16 messages; honouring it for every few-byte STAT or small-file DATA packet cost a
 * trip through the event loop per 16 packets (a 20,000-file walk took 14 s). Small messages may
 * queue up to MAX_QUEUED; large ones wait as soon as the stream asks.
 */
async function send(call: grpc.ServerDuplexStream<Buffer, Buffer>, msg: Buffer): Promise<void> {
  const ok = call.write(msg);
  if (msg.length > 64 << 10 ? !ok : call.writableLength >= MAX_QUEUED) await once(call, 'drain');
}

/** `moby.filesync.v1.FileSync/DiffCopy`: the daemon pulls a named local directory from us. */
export class FileSyncProvider implements Attachable {
  readonly #dirs: ReadonlyMap<string, LocalDir>;

  constructor(dirs: Readonly<Record<string, string | LocalDir>>) {
    this.#dirs = new Map(Object.entries(dirs).map(([k, v]) => [k, typeof v === 'string' ? { path: v } : v]));
  }

  register(server: grpc.Server): string[] {
    server.addService(
      {
        DiffCopy: rawMethod('/moby.filesync.v1.FileSync/DiffCopy', true),
      },
      { DiffCopy: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => void this.#diffCopy(call) },
    );
    return ['/moby.filesync.v1.FileSync/DiffCopy'];
  }

  async #diffCopy(call: grpc.ServerDuplexStream<Buffer, Buffer>): Promise<void> {
    const name = call.metadata.get('dir-name')[0]?.toString() ?? '';
    const dir = this.#dirs.get(name);
    if (!dir) {
      call.emit('error', { code: grpc.status.NOT_FOUND, details: `no access allowed to dir "${name}"` });
      return;
    }
    const files = new Map<number, { path: string; size: number }>();
    const queue: number[] = [];
    const waiters: (() => void)[] = [];
    let finished = false;
    let failure: Error | undefined;
    const kick = () => {
      for (const w of waiters.splice(0)) w();
    };

    call.on('data', (buf: Buffer) => {
      let p: Packet;
      try {
        p = decodePacket(buf);
      } catch (e) {
        failure = e as Error;
        finished = true;
        kick();
        return;
      }
      if (p.type === PacketType.REQ) {
        queue.push(p.id);
        kick();
      } else if (p.type === PacketType.FIN) {
        finished = true;
        kick();
        // The receiver has everything: answer FIN and end the RPC with OK.
        void writePacket(call, { type: PacketType.FIN, id: 0 })
          .then(() => call.end())
          .catch(() => {
            // The daemon already went away; nothing is left to tell it.
          });
      } else if (p.type === PacketType.ERR) {
        failure = new Error(`daemon reported: ${p.data?.toString() ?? 'error'}`);
        finished = true;
        kick();
        call.end();
      }
    });
    call.on('error', () => {
      finished = true;
      kick();
    });
    call.on('cancelled', () => {
      finished = true;
      kick();
    });

    const sendFile = async (id: number) => {
      const f = files.get(id);
      if (f === undefined) throw new Error(`daemon requested unknown file id ${id}`);
      if (f.size < CHUNK) {
        // Small files (most of a source tree): synchronous calls cost microseconds, the promise
        // API a thread-pool round trip per call.
        const fd = openSync(f.path, 'r');
        try {
          // One byte more than the walk saw, to notice a file that grew since.
          const cap = f.size + 1;
          const buf = Buffer.allocUnsafe(DATA_HEADROOM + cap);
          let len = 0;
          for (;;) {
            const n = readSync(fd, buf, DATA_HEADROOM + len, cap - len, null);
            if (n === 0) break;
            len += n;
            if (len === cap) break;
          }
          if (len > 0) await send(call, dataPacketInPlace(buf, id, len));
          if (len === cap) {
            // It grew past the chunk size since the walk: send the rest the slow way.
            await sendRest(fd, id);
          }
        } finally {
          closeSync(fd);
        }
        await writePacket(call, { type: PacketType.DATA, id });
        return;
      }
      const fh = await open(f.path, 'r');
      try {
        let left = f.size;
        for (;;) {
          // Size buffers by what the stat said is left (small files are the common case); a file
          // that grew since is still read to its end.
          const want = Math.min(CHUNK, Math.max(left, 16 << 10));
          const buf = Buffer.allocUnsafe(DATA_HEADROOM + want);
          const { bytesRead } = await fh.read(buf, DATA_HEADROOM, want, null);
          if (bytesRead === 0) break;
          left -= bytesRead;
          await send(call, dataPacketInPlace(buf, id, bytesRead));
        }
      } finally {
        await fh.close();
      }
      await writePacket(call, { type: PacketType.DATA, id });
    };

    const sendRest = async (fd: number, id: number) => {
      for (;;) {
        const buf = Buffer.allocUnsafe(DATA_HEADROOM + CHUNK);
        const n = readSync(fd, buf, DATA_HEADROOM, CHUNK, null);
        if (n === 0) return;
        await send(call, dataPacketInPlace(buf, id, n));
      }
    };

    const worker = async () => {
      while (!finished) {
        const id = queue.shift();
        if (id === undefined) {
          await new Promise<void>((r) => waiters.push(r));
          continue;
        }
        await sendFile(id);
      }
    };

    try {
      const workers = Array.from({ length: PARALLEL_FILES }, worker);
      let id = 0;
      for await (const e of walk(dir.path, {
        include: metaValues(call.metadata, 'include-patterns'),
        exclude: [...metaValues(call.metadata, 'exclude-patterns'), ...(dir.exclude ?? [])],
        followPaths: metaValues(call.metadata, 'followpaths'),
      })) {
        if (finished) break;
        if ((e.stat.mode & GoMode.Type) === 0) files.set(id, { path: e.abs, size: e.stat.size });
        await writePacket(call, { type: PacketType.STAT, id: 0, stat: e.stat });
        id++;
      }
      await writePacket(call, { type: PacketType.STAT, id: 0 });
      await Promise.all(workers);
      if (failure) throw failure;
    } catch (e) {
      finished = true;
      kick();
      const msg = `sending local dir "${name}" (${dir.path}): ${(e as Error).message}`;
      try {
        await writePacket(call, { type: PacketType.ERR, id: 0, data: Buffer.from(msg) });
      } catch {
        // The stream is already gone; the daemon reports the failure on its side.
      }
      call.emit('error', { code: grpc.status.UNKNOWN, details: msg });
    }
  }
}
