import { DEFAULT_NAMESPACE, natsNames, REPOSITORY_INFO_KEY } from './names.js';

/**
 * What each role of a farm may do on a locked-down nats-server, as the subjects of the server's
 * `authorization { users = [...] }` permissions (allow lists: whatever is not listed is refused).
 * Derived from how the coordinator and the agents use NATS (libs/queue, link.ts, staging.ts), so a
 * new use of NATS by an agent must be added here or the server refuses it.
 */
export interface SubjectPermissions {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/** A role: who it is, the file of its credentials, and what the server lets it do. */
export interface NatsRole {
  /** `coordinator`, or `agent-<arch>` (`agent-<ns>-<arch>` outside the default namespace). */
  readonly name: string;
  /** Undefined: everything (the coordinator administers the farm's streams, buckets and consumers). */
  readonly permissions?: SubjectPermissions;
  /** The inbox prefix the role's connections must use (`inboxPrefix`), when restricted. */
  readonly inboxPrefix?: string;
}

/**
 * The coordinator: every subject. It creates and updates the streams, consumers, KV buckets and
 * object stores of any namespace, publishes jobs, reads advisories and answers reports; it also
 * holds the repository signing key, so nothing is gained by narrowing it.
 */
export function coordinatorRole(): NatsRole {
  return { name: 'coordinator' };
}

/** The role name of an arch's agents in a namespace (the default namespace is left out). */
export function agentRoleName(ns: string, arch: string): string {
  return ns === DEFAULT_NAMESPACE ? `agent-${arch}` : `agent-${ns}-${arch}`;
}

/**
 * An arch's agents in a namespace may only:
 * - look up and pull from their arch's consumer, and ack, nak, term or keep alive what they pulled
 *   (`$JS.API.CONSUMER.INFO|MSG.NEXT.<stream>.agents-<arch>`, `$JS.ACK.<stream>.agents-<arch>.>`);
 * - publish events (progress, heartbeats) and send reports (requests; the coordinator's answer
 *   comes to their inbox);
 * - stage packages in the staging object store (its chunk and meta subjects, its stream info, the
 *   last meta message of a name, and the purge of chunks a failed or replaced upload left; the
 *   coordinator checks what it takes from staging against the report);
 * - write build logs: publish the live chunks of a build's log (`<ns>.logs.>`, kept by the
 *   coordinator's log stream) and store finished logs in the `<ns>_logs` object store, with the
 *   same operations as staging (a forged log is no result: blobs are checked against their digest);
 * - read the key `repository` of the `<ns>_info` bucket (the published repository's URL and keys,
 *   which only the coordinator writes), as a direct get whose subject names the key
 *   (`$JS.API.DIRECT.GET.KV_<ns>_info.$KV.<ns>_info.repository`): a `STREAM.MSG.GET` would carry
 *   the key in its body, out of reach of subject permissions;
 * - ask JetStream whether it is enabled (`$JS.API.INFO`, which the client does on open);
 * - subscribe only under their own inbox prefix.
 * Nothing else: no job publishing, no stream, consumer or bucket changes, no run state, no
 * repository writes, no other key of `<ns>_info` and no write to it, no runs store (`<ns>_runs`), no
 * other arch's consumer, no `_INBOX.>`. Agents read the published repository over the
 * coordinator's HTTP server, not from NATS.
 */
export function agentRole(ns: string, arch: string): NatsRole {
  const n = natsNames(ns);
  const consumer = n.agentConsumer(arch);
  const staging = `OBJ_${n.staging}`;
  const logs = `OBJ_${n.logs}`;
  return {
    name: agentRoleName(ns, arch),
    inboxPrefix: n.agentInbox(arch),
    permissions: {
      publish: [
        '$JS.API.INFO',
        `$JS.API.CONSUMER.INFO.${n.stream}.${consumer}`,
        `$JS.API.CONSUMER.MSG.NEXT.${n.stream}.${consumer}`,
        `$JS.ACK.${n.stream}.${consumer}.>`,
        n.events,
        n.results,
        `$JS.API.DIRECT.GET.KV_${n.info}.$KV.${n.info}.${REPOSITORY_INFO_KEY}`,
        `$JS.API.STREAM.INFO.${staging}`,
        `$JS.API.STREAM.MSG.GET.${staging}`,
        `$JS.API.STREAM.PURGE.${staging}`,
        `$O.${n.staging}.C.>`,
        `$O.${n.staging}.M.>`,
        // Build logs: the live chunks (kept by the coordinator's log stream) and the finished log
        // in the log object store, as for staging (blobs are content-addressed and checked on read).
        `${n.logSubjectPrefix}.>`,
        `$JS.API.STREAM.INFO.${logs}`,
        `$JS.API.STREAM.MSG.GET.${logs}`,
        `$JS.API.STREAM.PURGE.${logs}`,
        `$O.${n.logs}.C.>`,
        `$O.${n.logs}.M.>`,
      ],
      subscribe: [`${n.agentInbox(arch)}.>`],
    },
  };
}

/** The roles of a farm: the coordinator, and one agent role per namespace and arch. */
export function farmRoles(namespaces: readonly string[], arches: readonly string[]): NatsRole[] {
  return [coordinatorRole(), ...namespaces.flatMap((ns) => arches.map((a) => agentRole(ns, a)))];
}
