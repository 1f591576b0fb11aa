import { resolve } from 'node:path';
import type { Command } from 'commander';
import { progressLines } from '../display.js';
import { runDistributed } from '@melange2/coordinator';
import { PlanError } from '@melange2/coordinator';
import { summaryTable } from '../display.js';
import { startTelemetry } from '../telemetry/index.js';
import { CliError, EXIT } from '../exit-codes.js';
import { type FlagSet, readFlags, withDefault, withHelp } from '../flags/define.js';
import { NATS_FLAGS, natsConnect, natsPlan } from '../flags/nats.js';
import { FLAGS } from '../flags/table.js';
import { checkRunInputs, RUN_FLAGS, runOptions, signingKeyOrDefault } from './build-all.js';

const COORDINATOR_FLAGS = {
  ...NATS_FLAGS,
  namespace: withDefault(FLAGS.namespace, 'm2'),
  outDir: withHelp(FLAGS.outDir, 'publish to this directory instead of the Object Store'),
  listen: withDefault(FLAGS.listen, '127.0.0.1:0'),
  advertiseUrl: FLAGS.advertiseUrl,
  leaseMs: withDefault(FLAGS.leaseMs, '60000'),
} satisfies FlagSet;

export function registerCoordinator(program: Command): void {
  runOptions(
    program
      .command('coordinator')
      .description(
        'run a build-all over NATS JetStream: ready builds go to `melange2-orch agent`s per arch; state in KV, packages in the Object Store, served over HTTP',
      ),
    COORDINATOR_FLAGS,
  ).action(async (repo: string, _o: unknown, cmd: Command) => {
    const flags = readFlags(cmd, RUN_FLAGS);
    const own = readFlags(cmd, COORDINATOR_FLAGS);
    checkRunInputs(repo, flags);
    const arches = flags.arch;
    // Flags and files are checked before the signing key is made and telemetry starts.
    const nats = natsPlan(own, 'melange2-orch coordinator');
    const say = (s: string) => process.stderr.write(`${s}\n`);
    const { key } = await signingKeyOrDefault(flags.signingKey, say);
    const nc = await natsConnect(nats);
    const telemetry = startTelemetry({ serviceName: 'melange2-orch-coordinator' });
    let progress: ReturnType<typeof progressLines> | undefined;
    try {
      const result = await runDistributed({
        nc,
        ns: own.namespace,
        repo,
        arches,
        signingKey: key,
        ...(own.outDir ? { outDir: resolve(own.outDir) } : {}),
        listenHost: own.listen.host,
        listenPort: own.listen.port,
        ...(own.advertiseUrl ? { advertiseUrl: own.advertiseUrl } : {}),
        repositoryAppend: flags.repositoryAppend ?? [],
        keyringAppend: flags.keyringAppend ?? [],
        ...(flags.changedSince !== undefined ? { changedSince: flags.changedSince } : {}),
        ...flags.withDependents,
        ...(flags.retryFailed ? { retryFailed: true } : {}),
        cacheDir: flags.noParseCache ? false : flags.parseCacheDir,
        ordering: flags.order,
        limits: { ackWaitMs: own.leaseMs },
        onPlan: (plan, runId, resumed, url) => {
          for (const p of plan.problems) say(`warning: left out: ${p}`);
          for (const c of plan.cycles) say(`cycle: ${c}`);
          say(
            `${resumed ? 'resuming' : 'run'} ${runId}: ${plan.builds.length} build(s) for ${arches.join(', ')}, ${plan.upToDate.length} up to date; repository at ${url}, dashboard at ${url}/`,
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
      if (e instanceof PlanError) throw new CliError(e.message, EXIT.usage, { cause: e });
      throw e;
    } finally {
      await nc.drain().catch(() => undefined);
      await telemetry.shutdown();
    }
  });
}
