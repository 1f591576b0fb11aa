/**
 * How tests reach NATS: as the coordinator role (the default), or as an agent role of a
 * namespace and arch, on a locked-down server (TLS, nkey users: what `daemons up` starts) or a
 * plain one (then every role connects without credentials).
 */
import { dirname } from 'node:path';
import * as daemons from '@melange2/daemons';
import { agentRole, natsNames } from '@melange2/protocol';
import { connectNats, natsFileOptions } from '@melange2/queue';
import { type ConnectionOptions, connect, type NatsConnection } from '@nats-io/transport-node';

/** Where the server is and the coordinator role's credentials (none on a plain server). */
export interface NatsAccess {
  readonly url: string;
  /** The CA the server certificate chains to: the server is reached over TLS. */
  readonly tlsCa?: string;
  /** The coordinator role's nkey seed file; beside it, the server's authorization (`auth.conf`). */
  readonly nkey?: string;
}

/** A role's credentials: the seed file (none on a plain server) and the inbox prefix it must use. */
export interface NatsRoleAccess extends NatsAccess {
  readonly inboxPrefix?: string;
}

/** The flags of a command that connects as `a` (`--nats`, `--nats-tls-ca`, `--nats-nkey`). */
export function natsArgs(a: NatsAccess): string[] {
  return [
    '--nats',
    a.url,
    ...(a.tlsCa ? ['--nats-tls-ca', a.tlsCa] : []),
    ...(a.nkey ? ['--nats-nkey', a.nkey] : []),
  ];
}

/**
 * Connects as `a` (the coordinator role when `a` is the server's access), as the commands do: a
 * refusal while another test's `agentAccess` has the server reload its users is tried again.
 */
export function natsConnect(
  a: NatsRoleAccess,
  extra: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  return connectNats(natsFileOptions(a, extra));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The agent role of `ns` and `arch`: on a locked-down server its user is added to the server's
 * authorization (the server reloads it) and this waits until the server takes its credentials.
 */
export async function agentAccess(a: NatsAccess, ns: string, arch: string): Promise<NatsRoleAccess> {
  const inboxPrefix = natsNames(ns).agentInbox(arch);
  if (!a.nkey) return { url: a.url, ...(a.tlsCa ? { tlsCa: a.tlsCa } : {}), inboxPrefix };
  const role = agentRole(ns, arch);
  const files = await daemons.addNatsRoles(dirname(a.nkey), [role]);
  const access: NatsRoleAccess = { ...a, nkey: files.seeds[role.name]!, inboxPrefix };
  // The reload is asynchronous: the new user exists once a connection with it is accepted.
  for (let i = 0; ; i++) {
    try {
      // One try each: the user is not there until the reload is done.
      const nc = await connect(natsFileOptions(access, { reconnect: false, timeout: 2000 }));
      await nc.close();
      return access;
    } catch (e) {
      if (i >= 100) throw e;
      await sleep(50);
    }
  }
}
