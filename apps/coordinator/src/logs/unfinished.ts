import type { BuildOfRun } from '@melange2/protocol';
import type { RunEvent } from '../run/run-types.js';

/**
 * The builds of a run whose logs may still be marked running at its end: dispatched and not
 * succeeded (an agent stores a build's log before it reports it). What `abandon` checks, instead
 * of reading every reference of the run.
 */
export class UnfinishedLogs {
  readonly #builds = new Map<string, BuildOfRun>();

  event(e: RunEvent): void {
    if (e.type === 'dispatched') this.#builds.set(e.build.id, { arch: e.build.arch, name: e.build.name });
    else if (e.type === 'succeeded') this.#builds.delete(e.build.id);
  }

  builds(): BuildOfRun[] {
    return [...this.#builds.values()];
  }
}
