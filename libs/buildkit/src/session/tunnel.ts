import { Duplex } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { decodeBytesMessage } from './wire.js';

/** Flush the coalesced HTTP/2 frames once this many bytes are pending. */
const FLUSH_BYTES = 1 << 20;

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/**
 * Encodes `chunks` as one `BytesMessage{data}` with a single copy: the inner HTTP/2 connection
 * writes frames of at most 16 KiB, and one tunnel message per frame costs far more than the copy.
 */
function bytesMessageOf(chunks: readonly Buffer[], size: number): Buffer {
  const head = 1 + varintLength(size);
  const out = Buffer.allocUnsafe(head + size);
  out[0] = 0x0a;
  let pos = 1;
  let n = size;
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  for (const c of chunks) {
    c.copy(out, pos);
    pos += c.length;
  }
  return out;
}

/**
 * The raw byte stream inside a `Control.Session` call, as a Duplex an HTTP/2 server can run on:
 * writes are coalesced into BytesMessages (flushed when large or on the next turn of the event
 * loop), reads are the payloads of incoming BytesMessages, and backpressure goes both ways.
 */
export function sessionTunnel(call: grpc.ClientDuplexStream<Buffer, Buffer>): Duplex {
  let pending: Buffer[] = [];
  let pendingSize = 0;
  let scheduled = false;
  let waiting: (() => void)[] = [];
  let blocked = false;

  const flush = () => {
    scheduled = false;
    if (pendingSize === 0) return;
    const msg = bytesMessageOf(pending, pendingSize);
    pending = [];
    pendingSize = 0;
    if (!call.write(msg) && !blocked) {
      blocked = true;
      call.once('drain', () => {
        blocked = false;
        for (const cb of waiting.splice(0)) cb();
      });
    }
  };

  const push = (chunk: Buffer, cb: () => void) => {
    pending.push(chunk);
    pendingSize += chunk.length;
    if (pendingSize >= FLUSH_BYTES) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
    if (blocked) waiting.push(cb);
    else cb();
  };

  const tunnel = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      push(chunk, () => cb());
    },
    writev(chunks, cb) {
      for (let i = 0; i < chunks.length - 1; i++) {
        const c = chunks[i]?.chunk as Buffer;
        pending.push(c);
        pendingSize += c.length;
      }
      push(chunks[chunks.length - 1]?.chunk as Buffer, () => cb());
    },
    read() {
      call.resume();
    },
    final(cb) {
      flush();
      call.end();
      cb();
    },
    destroy(err, cb) {
      waiting = [];
      call.cancel();
      cb(err);
    },
  });
  call.on('data', (m: Buffer) => {
    if (!tunnel.push(decodeBytesMessage(m))) call.pause();
  });
  call.on('end', () => tunnel.push(null));
  call.on('error', (e: grpc.ServiceError) => {
    // Ending the session cancels the call; that is not an error worth surfacing.
    if (!tunnel.destroyed) tunnel.destroy(e.code === 1 ? undefined : e);
  });
  return tunnel;
}
