import { join, resolve } from 'node:path';
import { Agent, engineExecutor } from '@melange2/agent';
import type { SigningKey } from '@melange2/apk';
import { BuildkitClient, type TlsOptions } from '@melange2/buildkit';
import type { Arch } from '@melange2/depgraph';
import { type BuildEvent, LayerServer } from '@melange2/engine';
import { type BuildJob, type CoordinatorLink, LocalStaging } from '@melange2/protocol';
import { MemoryStateStore, MemoryWorkQueue, type QueueLimits } from '@melange2/queue';
import { layerServerHost } from './flags/buildkit.js';
import {
  Coordinator,
  decodeStateRecord,
  FileStateStore,
  IndexPublisher,
  keyringOf,
  LocalRepositoryStore,
  type PlanInputs,
  planAgainst,
  type PublisherRecord,
  policyOptions,
  type RunPlan,
  type RunPolicy,
  type RunResult,
  runIdFor,
} from '@melange2/coordinator';

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
  readonly onPlan?: (plan: RunPlan, runId: string, resumed: boolean) => void;
  readonly onBuildEvent?: (job: BuildJob, e: BuildEvent) => void;
  readonly log?: (line: string) => void;
}

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
  const queue = new MemoryWorkQueue<BuildJob>({ ackWaitMs: 120_000, maxDeliver: 3, ...o.queueLimits });
  const staging = new LocalStaging(join(outDir, '.staging'));
  const publisher = new IndexPublisher({
    store,
    signingKey: o.signingKey,
    records: new MemoryStateStore<PublisherRecord>(),
    keyring: keyringOf(o.signingKey),
  });
  const coordinator = new Coordinator({
    runId,
    plan,
    queue,
    staging,
    publisher,
    state,
    published: outDir,
    ...policyOptions(o),
  });
  const link: CoordinatorLink = {
    event: (e) => coordinator.agentEvent(e),
    report: (r) => coordinator.report(r),
  };
  const agents: Agent[] = [];
  const clients: BuildkitClient[] = [];
  // One server for every arch whose daemon reaches it (see --serve-layers).
  let layers: LayerServer | undefined;
  try {
    for (const arch of o.arches) {
      if (!plan.builds.some((b) => b.arch === arch)) continue;
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
          signingKey: o.signingKey,
          staging,
          ...(o.apkCacheDir ? { cacheDir: o.apkCacheDir } : {}),
          ...(o.buildCacheDir ? { buildCacheDir: o.buildCacheDir } : {}),
          ...(o.gitMirror ? { gitMirror: o.gitMirror } : {}),
          ...(host && layers ? { layerServer: layers } : {}),
          ...(o.onBuildEvent ? { onEvent: o.onBuildEvent } : {}),
        }),
        ...(o.log ? { log: o.log } : {}),
      });
      agent.start();
      agents.push(agent);
    }
    return await coordinator.run();
  } finally {
    await Promise.all(agents.map((a) => a.kill()));
    for (const c of clients) c.close();
    await layers?.close();
    await queue.close();
    state.flush();
  }
}
