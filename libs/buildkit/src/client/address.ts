import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { ConnectError } from '../errors.js';

/** mTLS material: PEM contents (Buffer/string) or paths to PEM files. */
export interface TlsOptions {
  readonly ca?: string | Uint8Array;
  readonly cert?: string | Uint8Array;
  readonly key?: string | Uint8Array;
  /** Expected server name when it differs from the host in the address. */
  readonly serverName?: string;
}

export interface ParsedAddress {
  /** grpc-js target. */
  readonly target: string;
  readonly kind: 'unix' | 'tcp';
  /** Socket path (unix) or host:port (tcp). */
  readonly endpoint: string;
}

/** `unix:///run/buildkit.sock`, `/run/buildkit.sock`, `tcp://host:1234`. */
export function parseAddress(address: string): ParsedAddress {
  if (address.startsWith('unix://')) {
    const path = address.slice('unix://'.length);
    if (!path.startsWith('/'))
      throw new ConnectError(address, 'a unix address needs an absolute path (unix:///path)');
    return { target: `unix://${path}`, kind: 'unix', endpoint: path };
  }
  if (address.startsWith('/')) return { target: `unix://${address}`, kind: 'unix', endpoint: address };
  if (address.startsWith('tcp://')) {
    const hp = address.slice('tcp://'.length).replace(/\/$/, '');
    if (!/^(\[[^\]]+\]|[^:/]+):\d+$/.test(hp)) throw new ConnectError(address, 'expected tcp://host:port');
    return { target: `dns:${hp}`, kind: 'tcp', endpoint: hp };
  }
  throw new ConnectError(address, 'unsupported address; use unix:///path or tcp://host:port');
}

function pem(v: string | Uint8Array | undefined): Buffer | null {
  if (v === undefined) return null;
  if (typeof v !== 'string') return Buffer.from(v);
  return v.includes('-----BEGIN') ? Buffer.from(v) : readFileSync(v);
}

export function credentials(address: string, tls: TlsOptions | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  try {
    return grpc.credentials.createSsl(pem(tls.ca), pem(tls.key), pem(tls.cert));
  } catch (e) {
    throw new ConnectError(address, `bad TLS material: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Opens and closes a plain connection to the endpoint: undefined when that works, else why not,
 * in words a person can act on.
 */
export async function probe(addr: ParsedAddress, timeoutMs: number): Promise<string | undefined> {
  if (addr.kind === 'unix') {
    try {
      const s = await stat(addr.endpoint);
      if (!s.isSocket()) return `${addr.endpoint} is not a socket`;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return code === 'ENOENT' ? `socket ${addr.endpoint} does not exist (is buildkitd running?)` : String(e);
    }
  }
  return new Promise((resolve) => {
    const sock =
      addr.kind === 'unix'
        ? createConnection({ path: addr.endpoint })
        : (() => {
            const i = addr.endpoint.lastIndexOf(':');
            return createConnection({
              host: addr.endpoint.slice(0, i).replace(/^\[|\]$/g, ''),
              port: Number(addr.endpoint.slice(i + 1)),
            });
          })();
    const done = (msg: string | undefined) => {
      sock.destroy();
      resolve(msg);
    };
    sock.setTimeout(timeoutMs, () => done('timed out while connecting'));
    sock.on('error', (e: NodeJS.ErrnoException) =>
      done(e.code === 'ECONNREFUSED' ? 'connection refused (is buildkitd running?)' : e.message),
    );
    sock.on('connect', () => done(undefined));
  });
}
