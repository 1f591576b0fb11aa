import { resolve } from 'node:path';
import { FileRunStore, ObjectRunStore, type RunStore } from '@melange2/coordinator';
import { natsNames } from '@melange2/protocol';
import type { NatsConnection } from '@nats-io/transport-node';
import { runsDir } from '../embedded.js';
import { type FlagSet, type FlagValues, withDefault, withHelp } from '../flags/define.js';
import { NATS_FLAGS, natsConnect, natsPlan } from '../flags/nats.js';
import { FLAGS } from '../flags/table.js';

/**
 * How `report` and `trace` find a run's records: under `--out-dir` (an embedded run's), else in
 * the namespace's object store over `--nats` (a coordinator's), else under `./packages`.
 */
export const RUN_RECORD_FLAGS = {
  outDir: withHelp(
    FLAGS.outDir,
    "an embedded run's output directory (default packages, unless --nats is given)",
  ),
  ...NATS_FLAGS,
  namespace: withDefault(FLAGS.namespace, 'm2'),
} satisfies FlagSet;

type RunRecordFlags = FlagValues<typeof RUN_RECORD_FLAGS>;

export async function openRunStore(
  flags: RunRecordFlags,
  client: string,
): Promise<{ store: RunStore; close(): Promise<void> }> {
  if (flags.outDir !== undefined || !flags.nats)
    return { store: new FileRunStore(runsDir(resolve(flags.outDir ?? 'packages'))), close: async () => {} };
  const names = natsNames(flags.namespace);
  const nc: NatsConnection = await natsConnect(natsPlan(flags, client));
  try {
    return {
      store: await ObjectRunStore.open(nc, names.runs),
      close: () => nc.drain().catch(() => undefined),
    };
  } catch (e) {
    await nc.close();
    throw e;
  }
}
