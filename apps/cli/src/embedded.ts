import { join, resolve } from 'node:path';
import type { Agent } from '@melange2/agent';
import type { SigningKey } from '@melange2/apk';
import type { BuildkitClient, TlsOptions } from '@melange2/buildkit';
import type { Arch } from '@melange2/depgraph';
import type { BuildEvent, LayerServer } from '@melange2/engine';
import {
  type BuildJob,
  type CoordinatorLink,
  LocalLogStore,
  LocalStaging,
  type LogRetention,
} from '@melange2/protocol';
import { MemoryStateStore, MemoryWorkQueue, type QueueLimits } from '@melange2/queue';
import { layerServerHost } from './flags/buildkit.js';
import {
  Coordinator,
  DEFAULT_LOG_RETENTION,
  decodeStateRecord,
  FileStateStore,
  IndexPublisher,
  Dashboard,
  FileRunStore,
  keyringOf,
  LocalRepositoryStore,
  logMetricsRoute,
  type PlanInputs,
  planAgainst,
  type PublisherRecord,
  reachFor,
  policyOptions,
  pruneLogs,
  type RunMetrics,
  type RunPlan,
  type RunPolicy,
  type RunResult,
  runIdFor,
  serveDashboard,
  TimelineRecorder,
} from '@melange2/coordinator';

/** Where an embedded run's timelines are kept (`report`, `trace` and the dashboard read them). */
export const runsDir = (outDir: string): string => join(resolve(outDir), '.melange2-runs');

export interface EmbeddedOptions extends PlanInputs, RunPolicy {
  readonly outDir: string;
  readonly signingKey: SigningKey;
  /** Resolves the buildkitd address of an arch only when that arch has something to build. */
  readonly buildkitAddress: (arch: Arch) => Promise<string>;
  /** TLS to every buildkitd (`--buildkit-tls*`). */
  readonly buildkitTls?: TlsOptions;
  /** Concurrent builds per arch (the local agent's slots). */
  readonly jobs: number;
  readonly apkCacheDir?: string;
  /** melange's `--cache-dir`: a host directory every build sees at /var/cache/melange. */
  readonly buildCacheDir?: string;
  /** `--git-mirror`: bare mirrors git-checkout clones from. */
  readonly gitMirror?: string;
  /** `--serve-layers`: a host, "off", or (default) 127.0.0.1 for daemons on this machine. */
  readonly serveLayers?: string;
  readonly queueLimits?: Partial<QueueLimits>;
  /** Per-build cap of kept log text; 0 keeps no logs (default 8 MiB). */
  readonly logMaxBytes?: number;
  /** Which runs' build logs to keep (default the last 20). */
  readonly logRetention?: LogRetention;
  /** Metrics of the run (served by whoever serves HTTP for it). */
  readonly metrics?: RunMetrics;
  readonly onPlan?: (plan: RunPlan, runId: string, resumed: boolean) => void;
  readonly onBuildEvent?: (job: BuildJob, e: BuildEvent) => void;
  readonly log?: (line: string) => void;
  /** Serve the dashboard while the run goes (`--dashboard[=ADDR]`); `onDashboard` gets its URL. */
  readonly dashboard?: { readonly host: string; readonly port: number };
  readonly onDashboard?: (url: string) => void;
}

/** Where an output directory keeps its build logs. */
export const logDir = (outDir: string): string => join(resolve(outDir), '.melange2-logs');

/**
 * `build-all` on one machine: the coordinator and one agent per arch in this process, over the
 * in-process queue (same leases and dedupe as JetStream), publishing into `<out>/<arch>/`.
 * State lives in `<out>/.melange2-state.json`, so an interrupted run resumes.
 */
export async function runEmbedded(o: EmbeddedOptions): Promise<RunResult> {
  const outDir = resolve(o.outDir);
  const store = new LocalRepositoryStore(outDir);
  const state = new FileStateStore(join(outDir, '.melange2-state.json'), decodeStateRecord);
  const plan = await planAgainst(store, state, o);
  const { runId, resumed } = await runIdFor(state, plan.root);
  o.onPlan?.(plan, runId, resumed);
  const logs = o.logMaxBytes === 0 ? undefined : new LocalLogStore(logDir(outDir));
  if (logs) await pruneLogs(logs, o.logRetention ?? DEFAULT_LOG_RETENTION, resumed, o.log ?? (() => {}));
  const metrics = o.metrics;
  const runs = new FileRunStore(runsDir(outDir));
  const prior = resumed ? await runs.get(runId).catch(() => undefined) : undefined;
  const timeline = new TimelineRecorder({
    runId,
    plan,
    store: runs,
    ...(prior ? { prior } : {}),
    ...(o.log ? { log: o.log } : {}),
  });
  const board = new Dashboard({ store: runs, live: timeline });
  const dashboard = o.dashboard
    ? await serveDashboard(board, {
        ...o.dashboard,
        routes: logMetricsRoute({
          ...(logs ? { logs } : {}),
          ...(metrics ? { metrics } : {}),
          timelines: (id) => board.timeline(id),
        }),
      })
    : undefined;
  if (dashboard) o.onDashboard?.(`${dashboard.url}/runs/${runId}/`);
  const queue = new MemoryWorkQueue<BuildJob>({ ackWaitMs: 120_000, maxDeliver: 3, ...o.queueLimits });
  const staging = new LocalStaging(join(outDir, '.staging'));
  const publisher = new IndexPublisher({
    store,
    signingKey: o.signingKey,
    records: new MemoryStateStore<PublisherRecord>(),
    keyring: keyringOf(o.signingKey),
    ...(metrics
      ? { onPublished: (arch: string, ms: number, rev: number) => metrics.published(arch, ms / 1000, rev) }
      : {}),
  });
  // A key rotation: an index left signed by another key is signed again with this one.
  for (const arch of o.arches)
    if (await publisher.resignIndex(arch))
      o.log?.(`${arch}: index signed again with ${o.signingKey.publicName}`);
  const reach = await reachFor(plan, store, o.repositoryAppend ?? [], o.log ?? (() => {}));
  const coordinator = new Coordinator({
    runId,
    plan,
    queue,
    staging,
    publisher,
    signingKey: o.signingKey,
    state,
    published: outDir,
    reach,
    ...policyOptions({
      ...o,
      onEvent: (e) => {
        timeline.event(e);
        metrics?.observe(e);
        o.onEvent?.(e);
      },
    }),
  });
  metrics?.plan(plan, (arch) => coordinator.capacity(arch));
  const link: CoordinatorLink = {
    event: (e) => {
      coordinator.agentEvent(e);
      timeline.agentEvent(e);
    },
    report: (r) => coordinator.report(r),
  };
  const agents: Agent[] = [];
  const clients: BuildkitClient[] = [];
  // One server for every arch whose daemon reaches it (see --serve-layers).
  let layers: LayerServer | undefined;
  try {
    for (const arch of o.arches) {
      if (!plan.builds.some((b) => b.arch === arch)) continue;
      // The agent, engine and BuildKit client (about 0.5 s of CPU to load) only when there is work.
      const [{ Agent, engineExecutor, localSources }, { BuildkitClient }, { LayerServer }] =
        await Promise.all([
          import('@melange2/agent'),
          import('@melange2/buildkit'),
          import('@melange2/engine'),
        ]);
      const address = await o.buildkitAddress(arch);
      const client = await BuildkitClient.connect(address, o.buildkitTls ? { tls: o.buildkitTls } : {});
      clients.push(client);
      const host = layerServerHost(o.serveLayers, [address]);
      if (host && !layers) layers = await LayerServer.start({ host });
      const agent = new Agent({
        id: `${arch}-local`,
        arch,
        slots: o.jobs,
        queue,
        link,
        execute: engineExecutor({
          repoRoot: plan.root,
          client,
          // In one process the agent may use the repository key: the coordinator signs again anyway.
          signingKey: o.signingKey,
          sources: localSources(outDir, {
            repositories: o.repositoryAppend ?? [],
            keyring: o.keyringAppend ?? [],
          }),
          staging,
          ...(o.apkCacheDir ? { cacheDir: o.apkCacheDir } : {}),
          ...(o.buildCacheDir ? { buildCacheDir: o.buildCacheDir } : {}),
          ...(o.gitMirror ? { gitMirror: o.gitMirror } : {}),
          ...(host && layers ? { layerServer: layers } : {}),
          onEvent: (job, e) => {
            if (e.type === 'stage') timeline.stage(job.id, e.stage);
            o.onBuildEvent?.(job, e);
          },
        }),
        ...(logs ? { logs: { store: logs, ...(o.logMaxBytes ? { maxBytes: o.logMaxBytes } : {}) } } : {}),
        ...(o.log ? { log: o.log } : {}),
      });
      agent.start();
      agents.push(agent);
    }
    timeline.begin();
    return await coordinator.run();
  } finally {
    await timeline.finish();
    await dashboard?.close();
    await Promise.all(agents.map((a) => a.kill()));
    for (const c of clients) c.close();
    await layers?.close();
    await queue.close();
    state.flush();
  }
}
