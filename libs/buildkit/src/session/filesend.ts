import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import {
  chmod,
  type FileHandle,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  rename,
  rm,
  symlink,
  utimes,
} from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { kindOf, unixPerm } from './fsmode.js';
import type { Attachable } from './session.js';
import { decodeBytesMessage, decodePacket, PacketType, type Stat } from './wire.js';
import { writePacket } from './filesync.js';

/** Where an exporter's output goes on this side of the session. */
export type ExportSink =
  | { readonly kind: 'dir'; readonly dest: string }
  | { readonly kind: 'file'; readonly dest: string }
  | { readonly kind: 'stream'; readonly stream: Writable };

const identity = (b: Buffer): Buffer => b;

/**
 * `moby.filesync.v1.FileSend/DiffCopy`: the daemon pushes exporter output to us. The same RPC
 * carries fsutil packets for `local` and raw tar bytes for `tar`/`oci`/`docker`, so each sink
 * decides how to read it; `buildkit-attachable-exporter-id` says which exporter is sending.
 */
export class FileSendReceiver implements Attachable {
  readonly #sinks: ReadonlyMap<number, ExportSink>;
  /** Completed (or failed) transfers by exporter index, for the solve to await. */
  readonly done = new Map<number, Promise<void>>();
  readonly #resolvers = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(sinks: ReadonlyMap<number, ExportSink>) {
    this.#sinks = sinks;
    for (const i of sinks.keys()) {
      const p = new Promise<void>((resolve, reject) => this.#resolvers.set(i, { resolve, reject }));
      p.catch(() => {});
      this.done.set(i, p);
    }
  }

  register(server: grpc.Server): string[] {
    server.addService(
      {
        DiffCopy: {
          path: '/moby.filesync.v1.FileSend/DiffCopy',
          requestStream: true,
          responseStream: true,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      { DiffCopy: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => void this.#diffCopy(call) },
    );
    return ['/moby.filesync.v1.FileSend/DiffCopy'];
  }

  async #diffCopy(call: grpc.ServerDuplexStream<Buffer, Buffer>): Promise<void> {
    const idx = Number(call.metadata.get('buildkit-attachable-exporter-id')[0]?.toString() ?? '0');
    const sink = this.#sinks.get(idx);
    const r = this.#resolvers.get(idx);
    if (!sink || !r) {
      call.emit('error', {
        code: grpc.status.NOT_FOUND,
        details: `no export destination for exporter ${idx}`,
      });
      return;
    }
    try {
      if (sink.kind === 'dir') await receiveDir(call, sink.dest);
      else await receiveBytes(call, sink);
      r.resolve();
    } catch (e) {
      const err = e as Error;
      r.reject(err);
      call.emit('error', { code: grpc.status.UNKNOWN, details: err.message });
    }
  }
}

async function receiveBytes(call: grpc.ServerDuplexStream<Buffer, Buffer>, sink: ExportSink): Promise<void> {
  let out: Writable;
  let tmp: string | undefined;
  if (sink.kind === 'file') {
    await mkdir(dirname(resolve(sink.dest)), { recursive: true });
    tmp = `${sink.dest}.tmp-${process.pid}-${Date.now()}`;
    out = createWriteStream(tmp);
  } else if (sink.kind === 'stream') {
    out = sink.stream;
  } else {
    throw new Error('internal: byte sink for a directory');
  }
  try {
    for await (const msg of call as AsyncIterable<Buffer>) {
      const data = decodeBytesMessage(msg);
      if (data.length > 0 && !out.write(data)) await once(out, 'drain');
    }
    if (sink.kind === 'file') {
      out.end();
      await once(out, 'finish');
      await rename(tmp as string, sink.dest);
      tmp = undefined;
    }
    call.end();
  } finally {
    if (tmp) {
      out.destroy();
      await rm(tmp, { force: true });
    }
  }
}

interface PendingFile {
  readonly abs: string;
  readonly stat: Stat;
  fh: FileHandle | undefined;
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

/** The fsutil receiver: STATs create entries and REQ file contents; DATA fills them; then FIN. */
async function receiveDir(call: grpc.ServerDuplexStream<Buffer, Buffer>, dest: string): Promise<void> {
  const root = resolve(dest);
  await mkdir(root, { recursive: true });
  const dirs: { abs: string; stat: Stat }[] = [];
  // Only directories created from this stream (or the root) may hold entries: a symlink sent
  // earlier must never let a later entry escape the destination.
  const knownDirs = new Set<string>(['']);
  const files = new Map<number, PendingFile>();
  let index = 0;
  let statsDone = false;
  let finSent = false;

  const maybeFinish = async () => {
    if (!statsDone || files.size > 0 || finSent) return;
    // Directory mtimes change as children are written, so set them last, deepest first.
    for (const d of dirs.reverse()) {
      await chmod(d.abs, unixPerm(d.stat.mode));
      const t = toTime(d.stat.modTime);
      await utimes(d.abs, t, t);
    }
    finSent = true;
    await writePacket(call, { type: PacketType.FIN, id: 0 });
  };

  try {
    for await (const buf of call as AsyncIterable<Buffer>) {
      if (await handle(buf)) return;
    }
  } catch (e) {
    // After our FIN the daemon may cancel the RPC before its FIN is read: the transfer is complete.
    if (finSent) return;
    throw e;
  } finally {
    for (const f of files.values()) await f.fh?.close().catch(() => {});
  }
  if (!finSent) throw new Error('export: the daemon closed the transfer early');

  async function handle(buf: Buffer): Promise<boolean> {
    const p = decodePacket(buf);
    switch (p.type) {
      case PacketType.STAT: {
        if (!p.stat) {
          statsDone = true;
          await maybeFinish();
          break;
        }
        const s = p.stat;
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
            await clearFor(abs, 'other');
            if (s.linkname !== '') {
              checkRel(s.linkname);
              await link(join(root, s.linkname), abs);
            } else {
              files.set(id, { abs, stat: s, fh: undefined });
              await writePacket(call, { type: PacketType.REQ, id });
            }
            break;
          default:
            // Devices, fifos and sockets cannot be recreated without privileges; skip them.
            break;
        }
        break;
      }
      case PacketType.DATA: {
        const f = files.get(p.id);
        if (!f) throw new Error(`export: data for unknown file id ${p.id}`);
        if (!f.fh) f.fh = await open(f.abs, 'w', 0o600);
        if (p.data && p.data.length > 0) {
          await f.fh.write(p.data, 0, p.data.length);
          break;
        }
        await f.fh.chmod(unixPerm(f.stat.mode));
        const t = toTime(f.stat.modTime);
        await f.fh.utimes(t, t);
        await f.fh.close();
        files.delete(p.id);
        await maybeFinish();
        break;
      }
      case PacketType.FIN:
        // The daemon's answer to our FIN; it does not half-close, so end the RPC here.
        if (!finSent) throw new Error('export: the daemon finished before sending every file');
        call.end();
        return true;
      case PacketType.ERR:
        throw new Error(`export failed on the daemon: ${p.data?.toString() ?? 'unknown error'}`);
      case PacketType.REQ:
        throw new Error('export: unexpected REQ from the daemon');
    }
    return false;
  }
}
