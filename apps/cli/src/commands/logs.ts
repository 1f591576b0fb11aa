import { existsSync } from 'node:fs';
import { logDir } from '../embedded.js';
import {
  type BuildLogStore,
  LocalLogStore,
  latestRun,
  natsNames,
  ObjectLogStore,
  readLog,
} from '@melange2/protocol';
import type { NatsConnection } from '@nats-io/transport-node';
import { ARCHES } from '@melange2/melange';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { addFlags, type FlagSet, readFlags, withDefault, withHelp } from '../flags/define.js';
import { NATS_FLAGS, natsConnect, natsPlan } from '../flags/nats.js';
import { FLAGS } from '../flags/table.js';

const LOGS_FLAGS = {
  arch: withHelp(
    FLAGS.arch,
    "the build's arch: x86_64 (amd64) or aarch64 (arm64) (default: the one arch that has it)",
  ),
  run: FLAGS.run,
  follow: FLAGS.follow,
  outDir: withHelp(
    FLAGS.outDir,
    'the output directory of an embedded build-all (default packages, unless --nats)',
  ),
  ...NATS_FLAGS,
  namespace: withDefault(FLAGS.namespace, 'm2'),
} satisfies FlagSet;

/** The log store the flags name: the output directory's, or the namespace's on NATS. */
async function openStore(
  flags: ReturnType<typeof readFlags<typeof LOGS_FLAGS>>,
): Promise<{ store: BuildLogStore; nc?: NatsConnection }> {
  if (flags.outDir !== undefined || !flags.nats) {
    const dir = logDir(flags.outDir ?? 'packages');
    if (!existsSync(dir))
      throw new CliError(`${dir}: no build logs here (give --out-dir of a build-all, or --nats)`, EXIT.usage);
    return { store: new LocalLogStore(dir) };
  }
  natsNames(flags.namespace);
  const nc = await natsConnect(natsPlan(flags, 'melange2-orch logs'));
  return { store: await ObjectLogStore.open(nc, flags.namespace), nc };
}

/** The arch of the package's log in the run: the one given, or the only one there is. */
async function archOf(
  store: BuildLogStore,
  runId: string,
  name: string,
  given: readonly string[] | undefined,
): Promise<string> {
  if (given) {
    if (given.length !== 1) throw new CliError('--arch: give one architecture', EXIT.usage);
    return given[0]!;
  }
  const arches: string[] = [];
  for (const arch of ARCHES) if (await store.ref({ runId, arch, name })) arches.push(arch);
  if (arches.length === 1) return arches[0]!;
  if (arches.length === 0) throw new CliError(`no log for ${name} in run ${runId}`, EXIT.failed);
  throw new CliError(
    `${name} was built for ${arches.join(' and ')} in run ${runId}: give --arch`,
    EXIT.usage,
  );
}

export function registerLogs(program: Command): void {
  const cmd = program
    .command('logs')
    .argument('<package>', 'the package (config name) whose build log to print')
    .description(
      "print a build's full log (BuildKit steps with timestamps, packaging, result) from the latest run or --run; --follow streams a running build",
    );
  addFlags(cmd, LOGS_FLAGS).action(async (name: string, _o: unknown, c: Command) => {
    const flags = readFlags(c, LOGS_FLAGS);
    const { store, nc } = await openStore(flags);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    try {
      const runId = flags.run ?? (await latestRun(store));
      if (!runId) throw new CliError('no build logs yet', EXIT.failed);
      const arch = await archOf(store, runId, name, flags.arch);
      for await (const chunk of readLog(
        store,
        { runId, arch, name },
        { follow: flags.follow, signal: stop.signal },
      ))
        if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
    } finally {
      process.off('SIGINT', onSignal);
      await nc?.close();
    }
  });
}
