/**
 * How every command that talks to NATS connects: the server URL and the standard ways to
 * authenticate (credentials file, nkey seed, user/password, token, in the URL or as flags) and
 * TLS with a client certificate. Files are read and checked before connecting; secrets never
 * appear in a message (`redactUrl`, `redactSecrets`).
 */
import { readFileSync } from 'node:fs';
import {
  type ConnectionOptions,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
  type TlsOptions,
} from '@nats-io/transport-node';
import { connectNats, isAuthRefusal } from '@melange2/queue';
import { CliError, EXIT } from '../exit-codes.js';
import { serverInfo } from './nats-info.js';
import { type FlagSet, flagError, type FlagValues } from './define.js';
import { FLAGS } from './table.js';

/** The flags of every command that connects to NATS. */
export const NATS_FLAGS = {
  nats: FLAGS.nats,
  natsCreds: FLAGS.natsCreds,
  natsNkey: FLAGS.natsNkey,
  natsUser: FLAGS.natsUser,
  natsPassword: FLAGS.natsPassword,
  natsToken: FLAGS.natsToken,
  natsTlsCa: FLAGS.natsTlsCa,
  natsTlsCert: FLAGS.natsTlsCert,
  natsTlsKey: FLAGS.natsTlsKey,
} satisfies FlagSet;

export type NatsFlags = FlagValues<typeof NATS_FLAGS>;

const CREDENTIALS_IN_URL = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#\s]*)@/i;

/**
 * `url` with the credentials in it hidden: `nats://user:pass@h` → `nats://user:***@h`,
 * `nats://token@h` → `nats://***@h`. Every URL of a comma-separated list is redacted.
 */
export function redactUrl(url: string): string {
  return url
    .split(',')
    .map((u) =>
      u.replace(CREDENTIALS_IN_URL, (_m, scheme: string, userinfo: string) => {
        const colon = userinfo.indexOf(':');
        return colon < 0 ? `${scheme}***@` : `${scheme}${userinfo.slice(0, colon)}:***@`;
      }),
    )
    .join(',');
}

/** `text` with every occurrence of each secret replaced by `***` (error texts may quote them). */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so a secret that contains another is hidden whole.
  for (const s of [...secrets].filter((x) => x.length > 0).sort((a, b) => b.length - a.length))
    out = out.replaceAll(s, '***');
  return out;
}

/** What the connection will use, with the secrets it must never print. */
export interface NatsPlan {
  readonly options: ConnectionOptions;
  /** The server list as it may be shown. */
  readonly shown: string;
  readonly secrets: readonly string[];
}

function readFlagFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw flagError(flag, `${path}: ${why}`);
  }
}

/** Splits `nats://user:pass@host` into the server without credentials and what it carried. */
function serverOf(raw: string): { server: string; user?: string; pass?: string; token?: string } {
  const m = CREDENTIALS_IN_URL.exec(raw);
  if (!m) return { server: raw };
  const server = `${m[1]}${raw.slice(m[0].length)}`;
  const userinfo = m[2]!;
  const colon = userinfo.indexOf(':');
  if (colon < 0) return { server, token: decodeURIComponent(userinfo) };
  return {
    server,
    user: decodeURIComponent(userinfo.slice(0, colon)),
    pass: decodeURIComponent(userinfo.slice(colon + 1)),
  };
}

/**
 * The connect options for `flags`: files read and checked (a missing one is a usage error naming
 * its flag), credentials from the URL unless flags give them. No network.
 */
export function natsPlan(flags: NatsFlags, name: string, o: { inboxPrefix?: string } = {}): NatsPlan {
  if (!flags.nats) throw new CliError('--nats is required (or set $NATS_URL)', EXIT.usage);
  const servers = flags.nats.split(',').map((s) => serverOf(s.trim()));
  const fromUrl = servers.find((s) => s.user !== undefined || s.token !== undefined);
  const user = flags.natsUser ?? fromUrl?.user;
  const pass = flags.natsPassword ?? fromUrl?.pass;
  const token = flags.natsToken ?? fromUrl?.token;
  if (flags.natsPassword !== undefined && flags.natsUser === undefined && fromUrl?.user === undefined)
    throw flagError('--nats-password', 'needs --nats-user (or $NATS_USER)');
  if (flags.natsCreds && flags.natsNkey)
    throw flagError('--nats-creds', 'give --nats-creds or --nats-nkey, not both');
  const options: ConnectionOptions = {
    servers: servers.map((s) => s.server),
    name,
    maxReconnectAttempts: -1,
    // No stack captured at every request for an error that rarely comes: ~10% of a coordinator's
    // CPU (bench observe-overhead). Errors keep their message and code.
    noAsyncTraces: true,
    ...(o.inboxPrefix ? { inboxPrefix: o.inboxPrefix } : {}),
  };
  const secrets: string[] = [];
  if (user !== undefined) {
    options.user = user;
    if (pass !== undefined) {
      options.pass = pass;
      secrets.push(pass);
    }
  } else if (token !== undefined) {
    options.token = token;
    secrets.push(token);
  }
  if (flags.natsCreds) {
    const creds = readFlagFile('--nats-creds', flags.natsCreds);
    if (!/-----BEGIN NATS USER JWT-----/.test(creds) || !/-----BEGIN USER NKEY SEED-----/.test(creds))
      throw flagError(
        '--nats-creds',
        `${flags.natsCreds}: not a NATS credentials file (no user JWT and nkey seed)`,
      );
    options.authenticator = credsAuthenticator(new TextEncoder().encode(creds));
  }
  if (flags.natsNkey) {
    const seed = readFlagFile('--nats-nkey', flags.natsNkey).trim();
    if (!/^SU[A-Z2-7]+$/.test(seed))
      throw flagError('--nats-nkey', `${flags.natsNkey}: not an nkey user seed (one line starting with SU)`);
    secrets.push(seed);
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (flags.natsTlsCert && !flags.natsTlsKey) throw flagError('--nats-tls-cert', 'needs --nats-tls-key');
  if (flags.natsTlsKey && !flags.natsTlsCert) throw flagError('--nats-tls-key', 'needs --nats-tls-cert');
  if (flags.natsTlsCa || flags.natsTlsCert) {
    const tls: TlsOptions = {};
    if (flags.natsTlsCa) tls.ca = readFlagFile('--nats-tls-ca', flags.natsTlsCa);
    if (flags.natsTlsCert && flags.natsTlsKey) {
      tls.cert = readFlagFile('--nats-tls-cert', flags.natsTlsCert);
      tls.key = readFlagFile('--nats-tls-key', flags.natsTlsKey);
    }
    options.tls = tls;
  }
  return { options, shown: redactUrl(flags.nats), secrets };
}

/**
 * Connects as `plan` says (a refusal is tried again twice: a server reloading its users refuses
 * who connects meanwhile); a refusal or an unreachable server is an environment error (exit 3).
 */
export async function natsConnect(plan: NatsPlan): Promise<NatsConnection> {
  const first = (plan.options.servers as string[])[0];
  if (first && !plan.options.tls?.cert) {
    const info = await serverInfo(first, 2000);
    if (info?.tlsVerify)
      throw new CliError(
        `NATS at ${plan.shown} requires a client certificate: give --nats-tls-cert and --nats-tls-key (and --nats-tls-ca for a private CA)`,
        EXIT.environment,
      );
  }
  try {
    return await connectNats(plan.options);
  } catch (e) {
    // The library's text may quote the URL or a secret; the original error is not kept as the
    // cause, since MELANGE2_DEBUG prints causes' stacks.
    const why = redactSecrets(redactUrl((e as Error).message), plan.secrets);
    const cause = new Error(why);
    if (isAuthRefusal(e))
      throw new CliError(`NATS refused the credentials for ${plan.shown}: ${why}`, EXIT.environment, {
        cause,
      });
    throw new CliError(`cannot reach NATS at ${plan.shown}: ${why}`, EXIT.environment, { cause });
  }
}
