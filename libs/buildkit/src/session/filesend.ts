import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { rawMethod } from './raw-method.js';
import type { Attachable } from './session.js';
import { decodeBytesMessage } from './wire.js';
import { receiveDir } from './receive-dir.js';

/** Where an exporter's output goes on this side of the session. */
export type ExportSink =
  | { readonly kind: 'dir'; readonly dest: string }
  | { readonly kind: 'file'; readonly dest: string }
  | { readonly kind: 'stream'; readonly stream: Writable };

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
        DiffCopy: rawMethod('/moby.filesync.v1.FileSend/DiffCopy', true),
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
