import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { FileRunStore, ObjectRunStore, PublishSections, type RunStore } from '@melange2/coordinator';
import { logDir, runsDir } from '../embedded.js';
import {
  type BuildLogStore,
  LocalLogStore,
  type LogKey,
  type LogRef,
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

/**
 * The log store the flags name: the output directory's, or the namespace's on NATS; and the
 * run store beside it (the timelines the logs' publish sections come from).
 */
async function openStore(
  flags: ReturnType<typeof readFlags<typeof LOGS_FLAGS>>,
): Promise<{ store: BuildLogStore; runs: RunStore; nc?: NatsConnection }> {
  if (flags.outDir !== undefined || !flags.nats) {
    const out = resolve(flags.outDir ?? 'packages');
    const dir = logDir(out);
    if (!existsSync(dir))
      throw new CliError(`${dir}: no build logs here (give --out-dir of a build-all, or --nats)`, EXIT.usage);
    return { store: new LocalLogStore(dir), runs: new FileRunStore(runsDir(out)) };
  }
  const names = natsNames(flags.namespace);
  const nc = await natsConnect(natsPlan(flags, 'melange2-orch logs'));
  try {
    const store = await ObjectLogStore.open(nc, flags.namespace);
    return { store, runs: await ObjectRunStore.open(nc, names.runs), nc };
  } catch (e) {
    await nc.close();
    throw e;
  }
}

/**
 * The reference of a followed log once it reads finished: a reference just replaced in the
 * object store can read as the running one for a moment after the live text ended.
 */
async function finishedRef(
  store: BuildLogStore,
  key: LogKey,
  signal: AbortSignal,
): Promise<LogRef | undefined> {
  let ref = await store.ref(key);
  for (let i = 0; i < 25 && ref?.state === 'running' && !signal.aborted; i++) {
    await delay(200, undefined, { signal }).catch(() => {});
    ref = await store.ref(key);
  }
  return ref;
}

const print = async (chunk: Uint8Array | string): Promise<void> => {
  if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
};

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
      "print a build's full log (BuildKit steps with timestamps, packaging, result, then the coordinator's publish step) from the latest run or --run; --follow streams a running build",
    );
  addFlags(cmd, LOGS_FLAGS).action(async (name: string, _o: unknown, c: Command) => {
    const flags = readFlags(c, LOGS_FLAGS);
    const { store, runs, nc } = await openStore(flags);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGINT', onSignal);
    try {
      const runId = flags.run ?? (await latestRun(store));
      if (!runId) throw new CliError('no build logs yet', EXIT.failed);
      const arch = await archOf(store, runId, name, flags.arch);
      const key = { runId, arch, name };
      for await (const chunk of readLog(store, key, { follow: flags.follow, signal: stop.signal }))
        await print(chunk);
      // A finished log ends with what the coordinator did with its report (publish section).
      const ref = flags.follow ? await finishedRef(store, key, stop.signal) : await store.ref(key);
      if (ref?.digest && ref.state !== 'running' && !stop.signal.aborted) {
        const sections = new PublishSections((id) => runs.get(id));
        await print(
          flags.follow ? await sections.await(ref, { signal: stop.signal }) : await sections.of(ref),
        );
      }
    } finally {
      process.off('SIGINT', onSignal);
      await nc?.close();
    }
  });
}
