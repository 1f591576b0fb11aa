import { deadLetterStream } from '@melange2/queue';
import { ProtocolError } from './errors.js';

/** The header a job is stamped with when it is queued (ms since epoch), for the queue-wait span. */
export const ENQUEUED_AT = 'm2-enqueued-at';

/** The namespace of a deployment when none is given. */
export const DEFAULT_NAMESPACE = 'm2';

/**
 * Names of a namespace's NATS resources; the coordinator and the agents must agree on them, and
 * several runs (or tests) share a server under different namespaces.
 */
export function natsNames(ns: string) {
  if (!/^[A-Za-z0-9_-]+$/.test(ns))
    throw new ProtocolError('protocol-namespace', 'namespace', `"${ns}": use letters, digits, _ and -`);
  return {
    /** The work queue's stream; its subjects are `<subjectPrefix>.<arch>`. */
    stream: `${ns.toUpperCase()}_BUILDS`,
    subjectPrefix: `${ns}.builds`,
    /** Reports (requests the coordinator answers) and events (progress, heartbeats). */
    results: `${ns}.results`,
    events: `${ns}.events`,
    /** KV buckets: run state, and the index publisher's records (the coordinator's alone). */
    state: `${ns}_state`,
    index: `${ns}_index`,
    /** KV bucket the coordinator writes and agents read: the published repository's URL and key. */
    info: `${ns}_info`,
    /** Object stores: the published repository, and the agents' staging area. */
    repo: `${ns}_repo`,
    staging: `${ns}_staging`,
    /** Build logs: finished ones in this object store, running ones on a stream of subjects. */
    logs: `${ns}_logs`,
    logStream: `${ns.toUpperCase()}_LOGS`,
    logSubjectPrefix: `${ns}.logs`,
    /** The durable pull consumer of an arch's builds, shared by every agent of that arch. */
    agentConsumer: (arch: string) => `agents-${arch}`,
    /**
     * The inbox prefix of an arch's agents (replies to their pulls, reports and API requests): a
     * locked-down server lets each agent subscribe only under its own, so no agent reads another
     * arch's work or another client's replies off `_INBOX.>`.
     */
    agentInbox: (arch: string) => `_INBOX.${ns}.agent-${arch}`,
    /** Object store: each run's timeline and summary (the dashboard, `report`, `trace`). */
    runs: `${ns}_runs`,
  };
}

export type NatsNames = ReturnType<typeof natsNames>;

/** The one key of the `<ns>_info` bucket: what agents may read of it (run-info.ts, permissions.ts). */
export const REPOSITORY_INFO_KEY = 'repository';

const DAY_MS = 86_400_000;

/**
 * How long run state lives unwritten (the state bucket's `ttl`, i.e. the stream's max_age): a
 * record not rewritten for 90 days is removed by the server, so the state of old runs, of
 * packages since removed, and the delete markers of cleared failures do not pile up. Each run
 * rewrites `run` and the `build.*` records of what it builds. What ageing out costs: a build not
 * rebuilt for 90 days loses its recorded duration (the critical path estimates it again), and a
 * `failure.*` record is forgotten, so that package is tried once more (a retry a quarter later).
 * A bucket-wide max_age rather than per-message TTLs (nats-server 2.11 `allow_msg_ttl`): every
 * record would take the same TTL, nats.js's KV `put` cannot set one, and max_age works on every
 * server.
 */
export const STATE_MAX_AGE_MS = 90 * DAY_MS;

/**
 * How long a staged package lives (the staging object store's `ttl`): the coordinator removes
 * what it publishes or refuses and purges a run's leftovers when the run ends, so only the uploads
 * of a coordinator that died are left; they go after 7 days, far past any build's lease.
 */
export const STAGING_MAX_AGE_MS = 7 * DAY_MS;

/**
 * Every JetStream stream a namespace uses (KV buckets and object stores are streams too):
 * what removing a namespace deletes.
 */
export function natsStreams(ns: string): string[] {
  const n = natsNames(ns);
  return [
    n.stream,
    deadLetterStream(n.stream),
    `KV_${n.state}`,
    `KV_${n.index}`,
    `KV_${n.info}`,
    `OBJ_${n.repo}`,
    `OBJ_${n.staging}`,
    `OBJ_${n.runs}`,
    `OBJ_${n.logs}`,
    n.logStream,
  ];
}

/** Message ids dedupe republished work: the same build attempt is never queued twice. */
export function jobMessageId(runId: string, id: string, attempt: number): string {
  return `${runId}:${id}:${attempt}`;
}

export function parseJobMessageId(msgId: string): { runId: string; id: string; attempt: number } | undefined {
  const m = /^(.+?):(.+):(\d+)$/.exec(msgId);
  return m ? { runId: m[1]!, id: m[2]!, attempt: Number(m[3]) } : undefined;
}
