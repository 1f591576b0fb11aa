import { readFileSync } from 'node:fs';
import {
  type ConnectionOptions,
  connect,
  type NatsConnection,
  nkeyAuthenticator,
} from '@nats-io/transport-node';

/** Where a NATS server is and how to prove who we are: files, as a locked-down server hands them out. */
export interface NatsFiles {
  readonly url: string;
  /** The CA the server certificate chains to: the server is reached over TLS. */
  readonly tlsCa?: string;
  /** An nkey seed file (`SU…`). */
  readonly nkey?: string;
  /** The inbox prefix the user must use, when its permissions restrict its inbox. */
  readonly inboxPrefix?: string;
}

/** nats.js connection options for `f`, its files read now. */
export function natsFileOptions(f: NatsFiles, extra: Partial<ConnectionOptions> = {}): ConnectionOptions {
  const seed = f.nkey ? new TextEncoder().encode(readFileSync(f.nkey, 'utf8').trim()) : undefined;
  return {
    servers: f.url,
    // No stack captured at every request for an error that rarely comes (see the CLI's flags).
    noAsyncTraces: true,
    ...(f.tlsCa ? { tls: { ca: readFileSync(f.tlsCa, 'utf8') } } : {}),
    ...(seed ? { authenticator: nkeyAuthenticator(seed) } : {}),
    ...(f.inboxPrefix ? { inboxPrefix: f.inboxPrefix } : {}),
    ...extra,
  };
}

/** Whether `e` (or one of its causes) is the server refusing who the client says it is. */
export function isAuthRefusal(e: unknown): boolean {
  for (let c: unknown = e; c instanceof Error; c = c.cause) {
    if (c.name === 'AuthorizationError' || c.name === 'UserAuthenticationExpiredError') return true;
    if (/authorization violation|authentication/i.test(c.message)) return true;
  }
  return false;
}

/** Connections tried when the credentials are refused, and the pause before the n-th try (× n). */
const REFUSED_TRIES = 3;
const REFUSED_PAUSE_MS = 250;

/**
 * Connects with `options`, trying again when the credentials are refused: nats-server, while it
 * reloads its authorization (SIGHUP once a role is added), checks every client against the new
 * users, a client still connecting too, and refuses that one although its credentials are there.
 * Wrong credentials are refused on every try: the last refusal is thrown, as are other errors at once.
 */
export async function connectNats(options: ConnectionOptions): Promise<NatsConnection> {
  for (let i = 1; ; i++) {
    try {
      return await connect(options);
    } catch (e) {
      if (i >= REFUSED_TRIES || !isAuthRefusal(e)) throw e;
      await new Promise((r) => setTimeout(r, REFUSED_PAUSE_MS * i));
    }
  }
}
