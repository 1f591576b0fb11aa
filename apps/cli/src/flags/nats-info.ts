/**
 * The INFO line a nats-server sends in plain text on every new connection, read before the
 * real connection: it says whether the server requires a client certificate, which a client
 * without one otherwise learns only as a connect timeout (with TLS 1.3 the server's refusal
 * comes after the handshake, and the NATS client does not surface it).
 */
import { connect } from 'node:net';

export interface ServerInfo {
  readonly tlsRequired: boolean;
  readonly tlsVerify: boolean;
}

/** `nats://host:port`, `tls://host`, or `host:port` → where to open a socket. */
function hostPort(server: string): { host: string; port: number } {
  const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `nats://${server}`);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: Number(u.port || 4222) };
}

/**
 * The server's INFO, or undefined when it sends none within `ms` (a server that wants the TLS
 * handshake first, or one not reachable: the real connection then says what is wrong).
 */
export function serverInfo(server: string, ms: number): Promise<ServerInfo | undefined> {
  const { host, port } = hostPort(server);
  return new Promise((resolve) => {
    let text = '';
    const socket = connect({ host, port });
    const done = (info: ServerInfo | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(info);
    };
    const timer = setTimeout(() => done(undefined), ms);
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
    socket.on('data', (b: Buffer) => {
      text += b.toString('latin1');
      const end = text.indexOf('\r\n');
      if (end < 0) return;
      const m = /^INFO\s+(\{.*\})\s*$/.exec(text.slice(0, end));
      if (!m) return done(undefined);
      try {
        const j = JSON.parse(m[1]!) as { tls_required?: unknown; tls_verify?: unknown };
        done({ tlsRequired: j.tls_required === true, tlsVerify: j.tls_verify === true });
      } catch {
        done(undefined);
      }
    });
  });
}
