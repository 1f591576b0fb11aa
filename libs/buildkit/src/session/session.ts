import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { identity, rawMethod } from './raw-method.js';
import { sessionTunnel } from './tunnel.js';

/** A service the session serves back to the daemon (file sync, secrets, …). */
export interface Attachable {
  /** Adds its handlers to the server and returns the full method paths it serves. */
  register(server: grpc.Server): string[];
}

const HEALTH_OK = Buffer.from([0x08, 0x01]); // HealthCheckResponse{status: SERVING}
/** Flow-control window of the inner HTTP/2 connection (the default 64 KiB caps exports). */
const WINDOW = 32 << 20;

/**
 * grpc-js has no option for the HTTP/2 settings of an injected connection; its server reads them
 * from `commonServerOptions` when it creates the HTTP/2 server. Without a larger window every
 * 64 KiB of an export waits for a WINDOW_UPDATE round trip through the tunnel.
 */
interface ServerInternals {
  commonServerOptions?: http2.ServerOptions;
  http2Servers?: Map<http2.Http2Server, unknown>;
}

function setHttp2Settings(server: grpc.Server): void {
  const s = server as unknown as ServerInternals;
  if (!s.commonServerOptions) return;
  s.commonServerOptions.settings = { ...(s.commonServerOptions.settings ?? {}), initialWindowSize: WINDOW };
}

/** The connection-level window is not a setting: raise it on each new HTTP/2 session. */
function widenWindows(server: grpc.Server): void {
  const servers = (server as unknown as ServerInternals).http2Servers;
  if (!servers) return;
  for (const h of servers.keys()) {
    h.on('session', (session: http2.ServerHttp2Session) => {
      try {
        session.setLocalWindowSize(WINDOW);
      } catch {
        // Only a performance tweak; the defaults still work.
      }
    });
  }
}

class Health implements Attachable {
  register(server: grpc.Server): string[] {
    server.addService(
      {
        Check: rawMethod('/grpc.health.v1.Health/Check', false),
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
    setHttp2Settings(server);
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
    const tunnel = sessionTunnel(call);
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    widenWindows(server);
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
