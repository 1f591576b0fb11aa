import { readFileSync } from 'node:fs';
import { type ConnectionOptions, nkeyAuthenticator } from '@nats-io/transport-node';

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
