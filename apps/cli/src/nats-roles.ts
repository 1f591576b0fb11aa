/**
 * The NATS security of a farm as the CLI lays it out (`nats-config`, `daemons up`): the roles
 * of libs/protocol in the files of libs/daemons, and the env lines that point clients at them.
 */
import { dirname } from 'node:path';
import { type NatsSecurityFiles, seedFile } from '@melange2/daemons';
import { agentRoleName, DEFAULT_NAMESPACE, farmRoles, type NatsRole } from '@melange2/protocol';

/** The variable naming an arch's agent credentials (`MELANGE2_AGENT_NATS_NKEY_X86_64`). */
export function agentNkeyEnv(arch: string, ns = DEFAULT_NAMESPACE): string {
  const suffix = ns === DEFAULT_NAMESPACE ? arch : `${ns}_${arch}`;
  return `MELANGE2_AGENT_NATS_NKEY_${suffix.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`;
}

export function securityRoles(namespaces: readonly string[], arches: readonly string[]): NatsRole[] {
  return farmRoles(namespaces, arches);
}

/**
 * `NATS_TLS_CA` and `NATS_NKEY` (the coordinator's credentials: what a command uses by default),
 * and each agent role's seed under its own name, so no agent gets the coordinator's by accident.
 */
export function securityEnv(
  files: NatsSecurityFiles,
  namespaces: readonly string[],
  arches: readonly string[],
): Record<string, string> {
  const dir = dirname(files.authConf);
  const env: Record<string, string> = { NATS_TLS_CA: files.tls.ca, NATS_NKEY: seedFile(dir, 'coordinator') };
  for (const ns of namespaces)
    for (const a of arches) env[agentNkeyEnv(a, ns)] = seedFile(dir, agentRoleName(ns, a));
  return env;
}
