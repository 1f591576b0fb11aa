import { resolve } from 'node:path';
import { startNatsAgent } from '@melange2/agent';
import { ARCHES, isArch } from '@melange2/daemons';
import type { Command } from 'commander';
import { startTelemetry } from '../telemetry/index.js';
import { CliError, EXIT } from '../exit-codes.js';
import { signingKeyOrDefault } from './build-all.js';
import { leaseOf, natsConnect } from './coordinator.js';

interface AgentFlags {
  nats: string;
  arch: string;
  buildkitAddr: string;
  slots: string;
  repo: string;
  namespace: string;
  signingKey?: string;
  cacheDir?: string;
  id?: string;
  leaseMs: string;
  buildTimeout: string;
}

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description(
      'pull builds of one arch from NATS, build them on a buildkitd, stage the signed APKs for the coordinator',
    )
    .requiredOption('--nats <url>', 'NATS server with JetStream')
    .requiredOption('--arch <arch>', `the arch this agent builds (${ARCHES.join(', ')})`)
    .requiredOption('--buildkit-addr <addr>', 'the buildkitd next to this agent')
    .option('--slots <n>', 'concurrent builds', '2')
    .option('--repo <dir>', 'checkout of the repository the coordinator reads', '.')
    .option('--namespace <ns>', 'prefix of streams, buckets and subjects (as the coordinator)', 'm2')
    .option('--signing-key <key>', 'the repository key (a file, e.g. a mounted Kubernetes secret)')
    .option('--cache-dir <dir>', 'package cache (default ~/.cache/melange2-orch/apk)')
    .option('--id <name>', 'agent name in progress and traces (default host-arch-pid)')
    .option('--lease-ms <ms>', 'lease of a build without a keep-alive (as the coordinator)', '60000')
    .option('--build-timeout <minutes>', 'abandon a build running longer (it is retried elsewhere)', '360')
    .action(async (flags: AgentFlags) => {
      if (!isArch(flags.arch))
        throw new CliError(
          `--arch: unknown architecture "${flags.arch}" (expected ${ARCHES.join(', ')})`,
          EXIT.usage,
        );
      const slots = Number(flags.slots);
      if (!Number.isInteger(slots) || slots < 1)
        throw new CliError('--slots: expected a whole number ≥ 1', EXIT.usage);
      const timeoutMin = Number(flags.buildTimeout);
      if (!(timeoutMin > 0)) throw new CliError('--build-timeout: expected minutes > 0', EXIT.usage);
      const say = (s: string) => process.stderr.write(`${s}\n`);
      const { key } = await signingKeyOrDefault(flags.signingKey, say);
      const telemetry = startTelemetry({ serviceName: 'melange2-orch-agent' });
      const nc = await natsConnect(flags.nats, `melange2-orch agent ${flags.arch}`);
      const a = await startNatsAgent({
        nc,
        ns: flags.namespace,
        arch: flags.arch,
        slots,
        repoRoot: resolve(flags.repo),
        signingKey: key,
        buildkitAddr: flags.buildkitAddr,
        limits: { ackWaitMs: leaseOf(flags.leaseMs) },
        buildTimeoutMs: timeoutMin * 60_000,
        ...(flags.cacheDir ? { cacheDir: resolve(flags.cacheDir) } : {}),
        ...(flags.id ? { id: flags.id } : {}),
        log: say,
        onBuildEvent: (job, e) => {
          if (e.type === 'stage') say(`${job.id}: ${e.stage}`);
        },
      });
      say(
        `agent for ${flags.arch} with ${slots} slot(s) on ${flags.buildkitAddr}; Ctrl-C finishes the builds in hand and leaves`,
      );
      await new Promise<void>((r) => {
        process.once('SIGINT', () => r());
        process.once('SIGTERM', () => r());
      });
      await a.close();
      await nc.drain().catch(() => undefined);
      await telemetry.shutdown();
    });
}
