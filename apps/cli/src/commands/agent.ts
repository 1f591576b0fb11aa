import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { AgentMetrics, serveAgentHttp, startNatsAgent } from '@melange2/agent';
import { DEFAULT_LOG_MAX_BYTES, natsNames } from '@melange2/protocol';
import type { Command } from 'commander';
import { startTelemetry } from '../telemetry/index.js';
import { CliError, EXIT } from '../exit-codes.js';
import { oneArch } from '../flags/arch.js';
import { BUILDKIT_TLS_FLAGS, buildkitAddresses, buildkitTls, requireBuildkit } from '../flags/buildkit.js';
import { addFlags, type FlagSet, readFlags, withDefault, withHelp } from '../flags/define.js';
import { NATS_FLAGS, natsConnect, natsPlan } from '../flags/nats.js';
import { FLAGS } from '../flags/table.js';
import { agentNkeyEnv } from '../nats-roles.js';
import { pathOrUrl } from './build-all.js';

const AGENT_FLAGS = {
  ...NATS_FLAGS,
  arch: withHelp(FLAGS.arch, 'the arch this agent builds: x86_64 (amd64) or aarch64 (arm64)'),
  buildkitAddr: withHelp(FLAGS.buildkitAddr, 'the buildkitd next to this agent'),
  ...BUILDKIT_TLS_FLAGS,
  jobs: withDefault(FLAGS.jobs, '2'),
  repo: withDefault(FLAGS.repo, '.'),
  namespace: withDefault(FLAGS.namespace, 'm2'),
  signingKey: withHelp(
    FLAGS.signingKey,
    'refused: agents hold no repository key (the coordinator checks and signs what it publishes)',
  ),
  repositoryAppend: withHelp(
    FLAGS.repositoryAppend,
    "extra repository this agent's build environments install from, after the published one (repeatable)",
  ),
  keyringAppend: withHelp(
    FLAGS.keyringAppend,
    "extra public key this agent's build environments trust, file, directory or URL (repeatable)",
  ),
  apkCacheDir: FLAGS.apkCacheDir,
  cacheDir: FLAGS.cacheDir,
  gitMirror: FLAGS.gitMirror,
  id: FLAGS.id,
  leaseMs: withDefault(FLAGS.leaseMs, '60000'),
  buildTimeout: withDefault(FLAGS.buildTimeout, '360'),
  drainTimeout: withDefault(FLAGS.drainTimeout, '30'),
  logMaxBytes: withDefault(FLAGS.logMaxBytes, String(DEFAULT_LOG_MAX_BYTES)),
  listen: withHelp(
    FLAGS.listen,
    'serve /metrics (Prometheus) and /healthz here, e.g. 0.0.0.0:9090 in a pod (default: not served)',
  ),
} satisfies FlagSet;

export function registerAgent(program: Command): void {
  const cmd = program
    .command('agent')
    .description(
      'pull builds of one arch from NATS, build them on a buildkitd, stage the APKs for the coordinator (which checks and signs them)',
    );
  addFlags(cmd, AGENT_FLAGS).action(async (_o: unknown, c: Command) => {
    const flags = readFlags(c, AGENT_FLAGS);
    if (!flags.arch) throw new CliError('--arch is required: the arch this agent builds', EXIT.usage);
    const arch = oneArch(flags.arch, 'an agent');
    if (!existsSync(flags.repo)) throw new CliError(`--repo ${flags.repo}: no such directory`, EXIT.usage);
    if (flags.cacheDir && !existsSync(flags.cacheDir))
      throw new CliError(`--cache-dir ${flags.cacheDir}: no such directory`, EXIT.usage);
    if (flags.gitMirror && !existsSync(flags.gitMirror))
      throw new CliError(`--git-mirror ${flags.gitMirror}: no such directory`, EXIT.usage);
    if (flags.signingKey)
      throw new CliError(
        '--signing-key: an agent holds no repository key any more: it stages packages signed with a key of its own, ' +
          'and the coordinator checks each against the job it dispatched and signs it while publishing. ' +
          'Give the key to the coordinator only (and remove it from the agents).',
        EXIT.usage,
      );
    for (const r of [...(flags.repositoryAppend ?? []), ...(flags.keyringAppend ?? [])])
      if (!/^(https?:\/\/|@)/.test(r) && !existsSync(r))
        throw new CliError(
          `${r}: no such file or directory (--repository-append / --keyring-append)`,
          EXIT.usage,
        );
    // Flags and files are checked before telemetry starts.
    // An agent's own credentials (as `daemons status` names them) come before $NATS_NKEY, which
    // is the coordinator's there; its replies come under its own inbox, the only one it may read.
    const agentSeed = process.env[agentNkeyEnv(arch, flags.namespace)];
    const fromEnv = flags.natsNkey === undefined || flags.natsNkey === process.env['NATS_NKEY'];
    const nats = natsPlan(
      agentSeed && fromEnv ? { ...flags, natsNkey: agentSeed } : flags,
      `melange2-orch agent ${arch}`,
      { inboxPrefix: natsNames(flags.namespace).agentInbox(arch) },
    );
    const buildkitAddr = requireBuildkit(buildkitAddresses(flags.buildkitAddr), arch);
    const tls = buildkitTls(flags);
    const say = (s: string) => process.stderr.write(`${s}\n`);
    const nc = await natsConnect(nats);
    const telemetry = await startTelemetry({ serviceName: 'melange2-orch-agent' });
    const metrics = new AgentMetrics();
    const a = await startNatsAgent({
      nc,
      ns: flags.namespace,
      arch,
      slots: flags.jobs,
      repoRoot: resolve(flags.repo),
      repositoryAppend: (flags.repositoryAppend ?? []).map(pathOrUrl),
      keyringAppend: (flags.keyringAppend ?? []).map(pathOrUrl),
      buildkitAddr,
      ...(tls ? { buildkitTls: tls } : {}),
      limits: { ackWaitMs: flags.leaseMs },
      buildTimeoutMs: flags.buildTimeout * 60_000,
      drainReportMs: flags.drainTimeout * 1000,
      logMaxBytes: flags.logMaxBytes,
      metrics,
      ...(flags.apkCacheDir ? { cacheDir: resolve(flags.apkCacheDir) } : {}),
      ...(flags.cacheDir ? { buildCacheDir: resolve(flags.cacheDir) } : {}),
      ...(flags.gitMirror ? { gitMirror: resolve(flags.gitMirror) } : {}),
      ...(flags.id ? { id: flags.id } : {}),
      log: say,
      onBuildEvent: (job, e) => {
        if (e.type === 'stage') say(`${job.id}: ${e.stage}`);
      },
    }).catch(async (e: unknown) => {
      // An open NATS connection would keep the process alive after the error is printed.
      await nc.close();
      await telemetry.shutdown();
      throw e;
    });
    const http = flags.listen
      ? await serveAgentHttp(metrics, { ...flags.listen, healthy: () => !nc.isClosed() }).catch(
          async (e: unknown) => {
            await a.close(true);
            await nc.close();
            await telemetry.shutdown();
            throw new CliError(
              `--listen ${flags.listen?.host}:${flags.listen?.port}: ${(e as Error).message}`,
              EXIT.usage,
              { cause: e },
            );
          },
        )
      : undefined;
    say(
      `agent for ${arch} with ${flags.jobs} slot(s) on ${buildkitAddr}${http ? `; metrics at ${http.url}/metrics` : ''}; Ctrl-C finishes the builds in hand and leaves`,
    );
    await new Promise<void>((r) => {
      process.once('SIGINT', () => r());
      process.once('SIGTERM', () => r());
    });
    say(`agent: stopping: finishing the builds in hand (reports given up after ${flags.drainTimeout} s)`);
    try {
      await a.close();
      // Every build in hand is reported by now, so a failed drain (NATS gone) loses nothing: say it.
      await nc.drain().catch((e: Error) => say(`agent: could not drain the NATS connection: ${e.message}`));
    } finally {
      await http?.close();
      if (!nc.isClosed()) await nc.close();
      await telemetry.shutdown();
    }
  });
}
