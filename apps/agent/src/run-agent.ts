import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, type SigningKey, signingKeyFromPem } from '@melange2/apk';
import { BuildkitClient, type TlsOptions } from '@melange2/buildkit';
import type { BuildEvent } from '@melange2/engine';
import {
  attachJobQueue,
  type BuildJob,
  natsLink,
  natsNames,
  ObjectLogStore,
  ObjectStaging,
  repositoryInfoReader,
} from '@melange2/protocol';
import type { QueueLimits } from '@melange2/queue';
import type { NatsConnection } from '@nats-io/transport-node';
import { Agent, DEFAULT_DRAIN_REPORT_MS, DrainTimeoutError, type Executor } from './agent.js';
import { engineExecutor } from './engine-executor.js';
import type { AgentMetrics } from './metrics.js';
import { natsSources, repositoryAnswers } from './sources.js';

export interface NatsAgentOptions {
  readonly nc: NatsConnection;
  readonly ns: string;
  readonly arch: string;
  readonly slots: number;
  /** Checkout of the repository the coordinator reads (job config paths are relative to it). */
  readonly repoRoot: string;
  /**
   * The agent's own key for the packages it stages (default: a fresh one for this process). Not
   * the repository key: agents hold none; the coordinator signs what it publishes.
   */
  readonly signingKey?: SigningKey;
  /** The agent's own extra repositories and trusted keys (`--repository-append`, `--keyring-append`). */
  readonly repositoryAppend?: readonly string[];
  readonly keyringAppend?: readonly string[];
  /** Either a daemon to build on, or an executor (fake agents in benchmarks). */
  readonly buildkitAddr?: string;
  /** TLS to that daemon (mutual TLS when it carries a client certificate). */
  readonly buildkitTls?: TlsOptions;
  readonly execute?: Executor;
  readonly id?: string;
  readonly cacheDir?: string;
  /** melange's `--cache-dir`: a host directory every build sees at /var/cache/melange. */
  readonly buildCacheDir?: string;
  /** `--git-mirror`: bare mirrors git-checkout clones from. */
  readonly gitMirror?: string;
  readonly limits?: Partial<QueueLimits>;
  readonly heartbeatMs?: number;
  /** See `AgentOptions.prefetch` and `prefetchBelowMs`. */
  readonly prefetch?: number;
  readonly prefetchBelowMs?: number;
  readonly buildTimeoutMs?: number;
  /** See `AgentOptions.drainReportMs`. */
  readonly drainReportMs?: number;
  readonly onBuildEvent?: (job: BuildJob, e: BuildEvent) => void;
  /** Keep every build's full log in the namespace's log store; 0 keeps none (default 8 MiB each). */
  readonly logMaxBytes?: number;
  readonly metrics?: AgentMetrics;
  readonly log?: (line: string) => void;
}

/** A key of this agent process only, never written to disk (the coordinator re-signs with the repository key). */
async function agentKey(id: string): Promise<SigningKey> {
  const name = `agent-${id.replace(/[^A-Za-z0-9._-]/g, '_')}.rsa.pub`;
  return signingKeyFromPem((await generateKeyPair(2048)).privatePem, name);
}

/** An agent on NATS: pulls its arch's builds from JetStream, stages packages in the Object Store. */
export async function startNatsAgent(
  o: NatsAgentOptions,
): Promise<{ agent: Agent; close(kill?: boolean): Promise<void> }> {
  const names = natsNames(o.ns);
  // Attached: the agent changes nothing on the server (its NATS user may only pull, see agentRole).
  const queue = await attachJobQueue(o.nc, o.ns, {
    ...(o.limits ? { limits: o.limits } : {}),
    // A job this agent cannot read (another protocol version) is terminated, not retried.
    onRefused: (r) => o.log?.(`agent: refused job ${r.msgId || `#${r.seq}`}: ${(r.error as Error).message}`),
  });
  let client: BuildkitClient | undefined;
  let execute = o.execute;
  let keyDir: string | undefined;
  let answers: (() => Promise<boolean>) | undefined;
  if (!execute) {
    if (!o.buildkitAddr) throw new Error('an agent needs --buildkit-addr');
    client = await BuildkitClient.connect(o.buildkitAddr, o.buildkitTls ? { tls: o.buildkitTls } : {});
    keyDir = await mkdtemp(join(tmpdir(), 'm2-agent-keys-'));
    const id = o.id ?? `${hostname()}-${o.arch}-${process.pid}`;
    const info = await repositoryInfoReader(o.nc, o.ns);
    answers = repositoryAnswers(info);
    execute = engineExecutor({
      repoRoot: o.repoRoot,
      client,
      signingKey: o.signingKey ?? (await agentKey(id)),
      sources: natsSources(
        info,
        { repositories: o.repositoryAppend ?? [], keyring: o.keyringAppend ?? [] },
        join(keyDir, 'keys'),
      ),
      staging: ObjectStaging.attach(o.nc, names.staging),
      ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
      ...(o.buildCacheDir ? { buildCacheDir: o.buildCacheDir } : {}),
      ...(o.gitMirror ? { gitMirror: o.gitMirror } : {}),
      ...(o.onBuildEvent ? { onEvent: o.onBuildEvent } : {}),
    });
  }
  const agent = new Agent({
    id: o.id ?? `${hostname()}-${o.arch}-${process.pid}`,
    arch: o.arch,
    slots: o.slots,
    queue,
    link: natsLink(o.nc, o.ns),
    execute,
    ...(answers ? { repositoryAnswers: answers } : {}),
    ...(o.logMaxBytes !== 0
      ? {
          logs: {
            store: ObjectLogStore.attach(o.nc, o.ns),
            ...(o.logMaxBytes ? { maxBytes: o.logMaxBytes } : {}),
          },
        }
      : {}),
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.heartbeatMs ? { heartbeatMs: o.heartbeatMs } : {}),
    ...(o.prefetch !== undefined ? { prefetch: o.prefetch } : {}),
    ...(o.prefetchBelowMs !== undefined ? { prefetchBelowMs: o.prefetchBelowMs } : {}),
    ...(o.buildTimeoutMs ? { buildTimeoutMs: o.buildTimeoutMs } : {}),
    ...(o.drainReportMs ? { drainReportMs: o.drainReportMs } : {}),
    ...(o.log ? { log: o.log } : {}),
  });
  o.metrics?.watch(agent);
  o.metrics?.watchNats(o.nc);
  agent.start();
  return {
    agent,
    /** Stops (or kills) the agent; a drain that gave up on a report throws `DrainTimeoutError`. */
    async close(kill = false) {
      await (kill ? agent.kill() : agent.stop());
      client?.close();
      await queue.close();
      if (keyDir) await rm(keyDir, { recursive: true, force: true });
      if (!kill && agent.unreported.length > 0)
        throw new DrainTimeoutError(agent.unreported, o.drainReportMs ?? DEFAULT_DRAIN_REPORT_MS);
    },
  };
}
