import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { decodeBytesMessage, encodeBytesMessage } from './wire.js';

/** A service the session serves back to the daemon (file sync, secrets, …). */
export interface Attachable {
  /** Adds its handlers to the server and returns the full method paths it serves. */
  register(server: grpc.Server): string[];
}

const identity = (b: Buffer): Buffer => b;
const HEALTH_OK = Buffer.from([0x08, 0x01]); // HealthCheckResponse{status: SERVING}
/** Coalesce the HTTP/2 frames of the inner connection into tunnel messages up to this size. */
const MAX_TUNNEL_MESSAGE = 1 << 20;

class Health implements Attachable {
  register(server: grpc.Server): string[] {
    server.addService(
      {
        Check: {
          path: '/grpc.health.v1.Health/Check',
          requestStream: false,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      {
        Check: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
          cb(null, HEALTH_OK),
      },
    );
    return ['/grpc.health.v1.Health/Check'];
  }
}

/** Random ID in the style of Go's identity.NewID (25 base-36 characters). */
export function newId(): string {
  const b = randomBytes(16);
  return BigInt(`0x${b.toString('hex')}`)
    .toString(36)
    .padStart(25, '0')
    .slice(-25);
}

export interface SessionOptions {
  readonly name?: string;
  /** Stable key that lets the daemon reuse previously synced local dirs (per workspace). */
  readonly sharedKey?: string;
  readonly attachables: readonly Attachable[];
}

/**
 * A BuildKit session: a `Control.Session` bidi stream of BytesMessage that carries a raw HTTP/2
 * connection on which *we* are the gRPC server and the daemon the client.
 */
export class Session {
  readonly id: string;
  readonly #call: grpc.ClientDuplexStream<Buffer, Buffer>;
  readonly #server: grpc.Server;
  readonly #injector: grpc.ConnectionInjector;
  readonly #tunnel: Duplex;
  #closed = false;

  private constructor(
    id: string,
    call: grpc.ClientDuplexStream<Buffer, Buffer>,
    server: grpc.Server,
    injector: grpc.ConnectionInjector,
    tunnel: Duplex,
  ) {
    this.id = id;
    this.#call = call;
    this.#server = server;
    this.#injector = injector;
    this.#tunnel = tunnel;
  }

  static start(client: grpc.Client, opts: SessionOptions): Session {
    const id = newId();
    const server = new grpc.Server({
      'grpc.max_receive_message_length': 64 << 20,
      'grpc.max_send_message_length': 64 << 20,
    });
    const methods = [new Health(), ...opts.attachables].flatMap((a) => a.register(server));
    const md = new grpc.Metadata();
    md.set('x-docker-expose-session-uuid', id);
    md.set('x-docker-expose-session-name', opts.name ?? 'melange2');
    md.set('x-docker-expose-session-sharedkey', opts.sharedKey ?? '');
    // One header value per method: a comma-joined value makes the daemon see no methods.
    for (const m of methods) md.add('x-docker-expose-session-grpc-method', m);

    const call = client.makeBidiStreamRequest<Buffer, Buffer>(
      '/moby.buildkit.v1.Control/Session',
      identity,
      identity,
      md,
    );
    const tunnel = new Duplex({
      writableHighWaterMark: MAX_TUNNEL_MESSAGE,
      write(chunk: Buffer, _enc, cb) {
        if (call.write(encodeBytesMessage(chunk))) cb();
        else call.once('drain', () => cb());
      },
      writev(chunks, cb) {
        // Batch corked HTTP/2 frames into few tunnel messages.
        let batch: Buffer[] = [];
        let size = 0;
        let ok = true;
        const flush = () => {
          if (batch.length === 0) return;
          ok =
            call.write(
              encodeBytesMessage(batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch)),
            ) && ok;
          batch = [];
          size = 0;
        };
        for (const { chunk } of chunks) {
          const b = chunk as Buffer;
          if (size + b.length > MAX_TUNNEL_MESSAGE) flush();
          batch.push(b);
          size += b.length;
        }
        flush();
        if (ok) cb();
        else call.once('drain', () => cb());
      },
      read() {
        call.resume();
      },
      final(cb) {
        call.end();
        cb();
      },
      destroy(err, cb) {
        call.cancel();
        cb(err);
      },
    });
    call.on('data', (m: Buffer) => {
      if (!tunnel.push(decodeBytesMessage(m))) call.pause();
    });
    call.on('end', () => tunnel.push(null));
    call.on('error', (e) => {
      // Ending the session cancels the call; that is not an error worth surfacing.
      if (!tunnel.destroyed)
        tunnel.destroy((e as grpc.ServiceError).code === grpc.status.CANCELLED ? undefined : e);
    });
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    injector.injectConnection(tunnel);
    return new Session(id, call, server, injector, tunnel);
  }

  /** Ends the tunnel: the daemon drops the session and any transfer still running on it. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#injector.destroy();
    this.#server.forceShutdown();
    this.#tunnel.destroy();
    this.#call.cancel();
  }
}
