import type { BuildLogStore, LogRetention } from '@melange2/protocol';

/** Logs of the last 20 runs are kept unless told otherwise (`--log-retention`). */
export const DEFAULT_LOG_RETENTION: LogRetention = { runs: 20 };

/**
 * Drops the logs of runs the retention does not keep, as a run begins: a new run counts as one
 * of the kept ones. A failure costs disk, not the run: it is logged.
 */
export async function pruneLogs(
  store: BuildLogStore,
  keep: LogRetention,
  resumed: boolean,
  log: (line: string) => void,
): Promise<void> {
  try {
    await store.prune({ ...keep, runs: Math.max(0, keep.runs - (resumed ? 0 : 1)) });
  } catch (e) {
    log(`pruning old build logs failed: ${(e as Error).message}`);
  }
}
