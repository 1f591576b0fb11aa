import { resolve } from 'node:path';
import { Keyring, publicPemOf, type SigningKey } from '@melange2/apk';
import {
  type LogRetention,
  natsNames,
  ObjectLogStore,
  ObjectStaging,
  openJobQueue,
  STATE_MAX_AGE_MS,
  type RepositoryInfo,
  serveAgentLink,
  writeRepositoryInfo,
} from '@melange2/protocol';
import { NatsStateStore, type QueueLimits } from '@melange2/queue';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  CachedIndexStore,
  decodePublisherRecord,
  IndexPublisher,
  LocalRepositoryStore,
  ObjectRepositoryStore,
  type RepositoryStore,
  serveRepository,
} from '../repository/index.js';
import { DEFAULT_LOG_RETENTION, pruneLogs } from '../logs/retention.js';
import { logMetricsRoute } from '../logs/routes.js';
import { UnfinishedLogs } from '../logs/unfinished.js';
import type { RunMetrics } from '../metrics/run-metrics.js';
import {
  closeCrashedRuns,
  Dashboard,
  dashboardRoute,
  ObjectRunStore,
  TimelineRecorder,
} from '../observe/index.js';
import { Coordinator } from './coordinator.js';
import { keyringOf, type PlanInputs, planAgainst, readIndexes, runIdFor } from './plan-inputs.js';
import type { RunPlan } from './plan-run.js';
import { policyOptions, type RunPolicy, type RunResult } from './run-types.js';
import { reachFor } from './reach.js';
import { decodeStateRecord } from './state.js';

export interface DistributedOptions extends PlanInputs, RunPolicy {
  readonly nc: NatsConnection;
  /** Namespace of streams, buckets and subjects (default `m2`). */
  readonly ns: string;
  readonly signingKey: SigningKey;
  /** A local directory for the repository instead of the Object Store. */
  readonly outDir?: string;
  /** Where the repository is served (`host:port`; default 127.0.0.1, any port). */
  readonly listenHost?: string;
  readonly listenPort?: number;
  /** The URL agents reach the repository at (default the listening address). */
  readonly advertiseUrl?: string;
  readonly limits?: Partial<QueueLimits>;
  /** Metrics of the run, served at `/metrics`. */
  readonly metrics?: RunMetrics;
  /**
   * The dashboard with its timeline, and the build log store with its retention (default on).
   * Off only for the bench that measures what they cost (`observe-overhead`).
   */
  readonly observe?: boolean;
  /** Which runs' build logs to keep (default the last 20). */
  readonly logRetention?: LogRetention;
  /** Skips publishing (benchmarks with fake agents that stage nothing still go through it). */
  readonly onPlan?: (plan: RunPlan, runId: string, resumed: boolean, repoUrl: string) => void;
  /** Stops the run early (tests of a coordinator restart). */
  readonly signal?: AbortSignal;
  /** Told as the run's start-up passes each phase (benchmarks account for the time before the first dispatch). */
  readonly onPhase?: (phase: StartPhase) => void;
}

/**
 * The start-up of a distributed run, in order: streams, buckets and the HTTP server open;
 * planned (scan, plan memo or graphs, recorded durations); set up (run id, indexes, repository
 * info, reach, timeline, scheduler: the round trips side by side with the CPU work); then the
 * coordinator dispatches.
 */
type StartPhase = 'opened' | 'planned' | 'set-up';

/**
 * The coordinator over NATS: builds go out on the JetStream work queue, agents' reports come
 * back as requests, state is in KV, packages in the Object Store (or `outDir`), served over
 * HTTP for the agents' environments.
 */
export async function runDistributed(o: DistributedOptions): Promise<RunResult> {
  const names = natsNames(o.ns);
  const observe = o.observe ?? true;
  // Each stream, bucket and store is opened on its own: side by side, one round trip or two in all.
  const [repository, state, records, queue, staging, runs, logs] = await Promise.all([
    o.outDir ? new LocalRepositoryStore(o.outDir) : ObjectRepositoryStore.open(o.nc, names.repo),
    // Run state ages out (STATE_MAX_AGE_MS): old runs' records do not grow without bound. The
    // index publisher's records (a lock and an index record per arch) are bounded and never age.
    NatsStateStore.open(o.nc, names.state, { decode: decodeStateRecord, maxAgeMs: STATE_MAX_AGE_MS }),
    NatsStateStore.open(o.nc, names.index, { decode: decodePublisherRecord }),
    openJobQueue(o.nc, o.ns, o.limits ? { limits: o.limits } : {}).then(async (q) => {
      // Creates each arch's consumer with this run's lease before any agent joins (agents set the same).
      await Promise.all(o.arches.map((arch) => q.depth(arch)));
      return q;
    }),
    ObjectStaging.open(o.nc, names.staging),
    ObjectRunStore.open(o.nc, names.runs),
    observe ? ObjectLogStore.open(o.nc, o.ns) : undefined,
  ]);
  const store: RepositoryStore = new CachedIndexStore(repository);
  // What is published now: what the plan is made against, and what the set-up then completes.
  const indexes = await readIndexes(store, o.arches);
  const metrics = o.metrics;
  const publisher = new IndexPublisher({
    store,
    signingKey: o.signingKey,
    records,
    keyring: keyringOf(o.signingKey),
    ...(metrics
      ? { onPublished: (arch: string, ms: number, rev: number) => metrics.published(arch, ms / 1000, rev) }
      : {}),
  });
  // The dashboard, build logs and metrics are on the repository's HTTP address.
  const dashboard = observe ? new Dashboard({ store: runs }) : undefined;
  const extra = logMetricsRoute({
    ...(logs ? { logs } : {}),
    ...(metrics ? { metrics } : {}),
    ...(dashboard ? { timelines: (id: string) => dashboard.timeline(id) } : {}),
  });
  const server = await serveRepository(store, {
    ...(o.listenHost ? { host: o.listenHost } : {}),
    ...(o.listenPort !== undefined ? { port: o.listenPort } : {}),
    routes: async (req, res) =>
      (await extra(req, res)) || (dashboard ? dashboardRoute(dashboard, req, res) : false),
  });
  o.onPhase?.('opened');
  let timeline: TimelineRecorder | undefined;
  let link: { close(): void } | undefined;
  let housekeeping: Promise<void> | undefined;
  let finishing: Promise<void> | undefined;
  let bootstrapped: Promise<unknown> | undefined;
  try {
    const repoUrl = o.advertiseUrl ?? server.url;
    // Nothing is in flight while the plan takes the CPU: a cold scan holds it for seconds, and a
    // request's timeout would fire before its reply is read.
    const plan = await planAgainst(store, state, o, indexes);
    o.onPhase?.('planned');
    // Before any job goes out: agents install from the repository over HTTP (an arch with
    // nothing published yet gets an empty index; one signed with another key, the key rotated,
    // is signed again with this one). Under way while the run id is read and the set-up's CPU work goes.
    bootstrapped = Promise.all(
      o.arches.map(async (arch) => {
        if (!indexes.get(arch)) await publisher.publish({ arch, apks: [] });
        else if (await publisher.resignIndex(arch))
          o.log?.(`${arch}: index signed again with ${o.signingKey.publicName}`);
      }),
    );
    bootstrapped.catch(() => {});
    const { runId, resumed } = await runIdFor(state, plan.root);
    o.onPlan?.(plan, runId, resumed, repoUrl);
    // What agents install from besides their own configuration: only the coordinator writes it.
    const info = repositoryInfo(runId, repoUrl, o);
    // Round trips first, then the CPU work (reach, timeline, scheduler) while they are out.
    // Before any job goes out: the indexes, the run info agents read, and old runs' logs pruned
    // before this run's are written (the pruning counts runs, and would count this one).
    const ready = Promise.all([
      bootstrapped,
      writeRepositoryInfo(o.nc, o.ns, info),
      logs
        ? pruneLogs(logs, o.logRetention ?? DEFAULT_LOG_RETENTION, resumed, o.log ?? (() => {}))
        : undefined,
    ]);
    // Awaited by the coordinator (its `gate`); a failure before then must not be left unhandled.
    ready.catch(() => {});
    // Crashed runs are closed while this one goes (a failure is logged); awaited before it returns.
    housekeeping = observe ? closeCrashed(runs, logs, runId, o.log) : undefined;
    const priorTimeline = resumed ? runs.get(runId).catch(() => undefined) : undefined;
    // The reach reads the indexes as planned (an empty index adds nothing to it).
    const reach = await reachFor(plan, store, info.repositories, o.log ?? (() => {}));
    await ioTurn();
    const prior = await priorTimeline;
    const tl = dashboard
      ? new TimelineRecorder({
          runId,
          plan,
          store: runs,
          flushMs: 5000,
          ...(prior ? { prior } : {}),
          ...(o.log ? { log: o.log } : {}),
        })
      : undefined;
    timeline = tl;
    if (dashboard && tl) dashboard.live = tl;
    const unfinished = logs ? new UnfinishedLogs() : undefined;
    await ioTurn();
    const coordinator = new Coordinator({
      runId,
      plan,
      queue,
      staging,
      publisher,
      signingKey: o.signingKey,
      state,
      published: repoUrl,
      reach,
      gate: ready,
      ...policyOptions({
        ...o,
        onEvent: (e) => {
          tl?.event(e);
          unfinished?.event(e);
          metrics?.observe(e);
          o.onEvent?.(e);
        },
      }),
    });
    metrics?.plan(plan, (arch) => coordinator.capacity(arch));
    metrics?.watchNats(o.nc);
    // Malformed or foreign messages are logged and dropped (a report gets a refusal): they never
    // reach the coordinator.
    link = serveAgentLink(
      o.nc,
      o.ns,
      {
        event: (e) => {
          coordinator.agentEvent(e);
          tl?.agentEvent(e);
        },
        report: (r) => {
          tl?.report(r);
          return coordinator.report(r);
        },
      },
      o.log ? { log: o.log } : {},
    );
    o.signal?.addEventListener('abort', () => coordinator.stop(), { once: true });
    // The timeline begins (its first write: every build of the run) once the set-up is done, not
    // beside its last round trips; still before any job goes out (the gate is awaited after this).
    ready.then(
      () => {
        tl?.begin();
        o.onPhase?.('set-up');
      },
      () => {},
    );
    // The run's records are read while the set-up's last round trips are out (`gate`).
    const result = await coordinator.run();
    // The final timeline is written while lost builds' logs are marked (a build whose agent was
    // lost left its log marked running: nothing will finish it now).
    finishing = tl?.finish();
    await logs
      ?.abandon(runId, unfinished?.builds())
      .catch((e: unknown) => o.log?.(`marking lost builds' logs: ${(e as Error).message}`));
    return result;
  } finally {
    // Nothing of the start-up is left writing once the run returns.
    await Promise.allSettled([bootstrapped, housekeeping, finishing ?? timeline?.finish()]);
    dashboard?.close();
    link?.close();
    await Promise.all([queue.close(), server.close()]);
  }
}

/**
 * Runs a crashed coordinator left running (a new run has begun since): their unfinished builds
 * are cancelled in their timelines and their logs still marked running are marked cancelled. A
 * failure costs only that record: it is logged.
 */
async function closeCrashed(
  runs: ObjectRunStore,
  logs: ObjectLogStore | undefined,
  runId: string,
  log: ((line: string) => void) | undefined,
): Promise<void> {
  try {
    for (const r of await closeCrashedRuns(runs, runId)) {
      const lost = (await logs?.abandon(r.runId)) ?? [];
      log?.(
        `run ${r.runId} was left running by a coordinator that stopped: ${r.cancelled.length} builds and ${lost.length} logs marked cancelled`,
      );
    }
  } catch (e) {
    log?.(`closing runs left running: ${(e as Error).message}`);
  }
}

/**
 * Lets the replies that came in meanwhile be taken between two pieces of start-up CPU work: each
 * round trip of the set-up (an index written, the run info) then goes on at once, not after all of it.
 */
const ioTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const isUrl = (s: string) => /^https?:\/\//.test(s);

/**
 * The run info agents read: the published repository, the repository key, and the farm's extra
 * repositories and keys from the coordinator's own flags (key files are sent as their contents;
 * other paths are named as given, for agents on the same machine).
 */
function repositoryInfo(runId: string, url: string, o: DistributedOptions): RepositoryInfo {
  const extra = (o.keyringAppend ?? []).filter((k) => !isUrl(k));
  const keys = [...Keyring.load(extra).keys].map(([name, k]) => ({ name, pem: k.pem }));
  return {
    kind: 'repository',
    runId,
    url,
    keys: [{ name: o.signingKey.publicName, pem: publicPemOf(o.signingKey) }, ...keys],
    repositories: (o.repositoryAppend ?? []).map((r) => (isUrl(r) || r.startsWith('@') ? r : resolve(r))),
    keyUrls: (o.keyringAppend ?? []).filter(isUrl),
  };
}
