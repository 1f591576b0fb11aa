import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Command } from 'commander';
import { progressLines } from '../display.js';
import { runDistributed } from '@melange2/coordinator';
import { PlanError } from '@melange2/coordinator';
import { summaryTable } from '../display.js';
import { startTelemetry } from '../telemetry/index.js';
import { CliError, EXIT } from '../exit-codes.js';
import { dependentsOf, orderingOf, type RunFlags, runOptions, signingKeyOrDefault } from './build-all.js';
import { parseArchList } from './depgraph-shared.js';

interface CoordinatorFlags extends RunFlags {
  nats: string;
  namespace: string;
  out?: string;
  listen: string;
  advertiseUrl?: string;
  leaseMs: string;
}

export async function natsConnect(url: string, name: string): Promise<NatsConnection> {
  try {
    return await connect({ servers: url, name, maxReconnectAttempts: -1 });
  } catch (e) {
    throw new CliError(`cannot reach NATS at ${url}: ${(e as Error).message}`, EXIT.environment);
  }
}

export function leaseOf(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1000)
    throw new CliError('--lease-ms: expected a whole number ≥ 1000', EXIT.usage);
  return n;
}

export function registerCoordinator(program: Command): void {
  runOptions(
    program
      .command('coordinator')
      .description(
        'run a build-all over NATS JetStream: ready builds go to `melange2-orch agent`s per arch; state in KV, packages in the Object Store, served over HTTP',
      ),
  )
    .requiredOption('--nats <url>', 'NATS server with JetStream (e.g. nats://127.0.0.1:4222)')
    .option('--namespace <ns>', 'prefix of streams, buckets and subjects', 'm2')
    .option('--out <dir>', 'publish to this directory instead of the Object Store')
    .option('--listen <host:port>', 'where the repository is served to agents', '127.0.0.1:0')
    .option('--advertise-url <url>', 'the repository URL agents use (default the listening address)')
    .option('--lease-ms <ms>', 'how long an agent may go silent before its build is redelivered', '60000')
    .action(async (repo: string, flags: CoordinatorFlags) => {
      const arches = parseArchList(flags.arch);
      if (!existsSync(repo)) throw new CliError(`${repo}: no such repository directory`, EXIT.usage);
      const ordering = orderingOf(flags.order);
      const m = /^(.*):(\d+)$/.exec(flags.listen);
      if (!m) throw new CliError(`--listen: expected host:port, got "${flags.listen}"`, EXIT.usage);
      const leaseMs = leaseOf(flags.leaseMs);
      const say = (s: string) => process.stderr.write(`${s}\n`);
      const { key } = await signingKeyOrDefault(flags.signingKey, say);
      const telemetry = startTelemetry({ serviceName: 'melange2-orch-coordinator' });
      const nc = await natsConnect(flags.nats, 'melange2-orch coordinator');
      let progress: ReturnType<typeof progressLines> | undefined;
      try {
        const result = await runDistributed({
          nc,
          ns: flags.namespace,
          repo,
          arches,
          signingKey: key,
          ...(flags.out ? { outDir: resolve(flags.out) } : {}),
          listenHost: m[1] || '127.0.0.1',
          listenPort: Number(m[2]),
          ...(flags.advertiseUrl ? { advertiseUrl: flags.advertiseUrl } : {}),
          repositoryAppend: flags.repositoryAppend,
          keyringAppend: flags.keyringAppend,
          ...(flags.changedSince !== undefined ? { changedSince: flags.changedSince } : {}),
          ...dependentsOf(flags.withDependents),
          ...(flags.retryFailed ? { retryFailed: true } : {}),
          cacheDir: flags.parseCache ? '.melange2/cache' : false,
          ordering,
          limits: { ackWaitMs: leaseMs },
          onPlan: (plan, runId, resumed, url) => {
            for (const p of plan.problems) say(`warning: left out: ${p}`);
            for (const c of plan.cycles) say(`cycle: ${c}`);
            say(
              `${resumed ? 'resuming' : 'run'} ${runId}: ${plan.builds.length} build(s) for ${arches.join(', ')}, ${plan.upToDate.length} up to date; repository at ${url}`,
            );
            progress = progressLines(plan.builds.length, say);
          },
          onEvent: (e) => progress?.(e),
          log: (line) => say(`warning: ${line}`),
        });
        process.stdout.write(summaryTable(result));
        if (result.rows.some((r) => r.state !== 'succeeded') || result.problems.length > 0)
          process.exitCode = EXIT.failed;
      } catch (e) {
        if (e instanceof PlanError) throw new CliError(e.message, EXIT.usage);
        throw e;
      } finally {
        await nc.drain().catch(() => undefined);
        await telemetry.shutdown();
      }
    });
}
