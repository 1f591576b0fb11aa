import { randomUUID } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildJob, RepositoryInfo } from '@melange2/protocol';
import type { EnvironmentSources } from './engine-executor.js';

/** The agent's own `--repository-append` and `--keyring-append`. */
export interface OwnSources {
  readonly repositories: readonly string[];
  readonly keyring: readonly string[];
}

/** The coordinator's run info is not there yet (or not readable): the build is tried again later. */
class NoRepositoryInfoError extends Error {
  override readonly name = 'NoRepositoryInfoError';
  readonly code = 'AGENT_NO_REPOSITORY_INFO';
}

/**
 * A job's environment sources on NATS: the published repository (at the job's index generation)
 * and the keys from the coordinator's run info, which only the coordinator writes, then the
 * agent's own repositories and keys, then the farm's extras from the run info. The keys are
 * written into `keyDir` (the agent's own directory) as files, which is what the installer reads.
 */
export function natsSources(
  info: { read(): Promise<RepositoryInfo | undefined> },
  own: OwnSources,
  keyDir: string,
): (job: BuildJob) => Promise<EnvironmentSources> {
  let written = '';
  return async (job) => {
    const i = await info.read().catch((e: unknown) => {
      throw new NoRepositoryInfoError(`cannot read the coordinator's run info: ${(e as Error).message}`, {
        cause: e,
      });
    });
    if (!i)
      throw new NoRepositoryInfoError(
        'no run info from a coordinator yet (the published repository is unknown)',
      );
    const stamp = JSON.stringify(i.keys);
    if (stamp !== written) {
      // Keys are added, never removed: after a key rotation, packages signed before stay trusted.
      await mkdir(keyDir, { recursive: true, mode: 0o700 });
      for (const k of i.keys) {
        // Slots of one agent may write the same key at once: each through its own temp file.
        const tmp = join(keyDir, `.${k.name}.tmp-${randomUUID()}`);
        await writeFile(tmp, k.pem);
        await rename(tmp, join(keyDir, k.name));
      }
      written = stamp;
    }
    const published = /^https?:/.test(i.url) && job.generation ? `${i.url}/r/${job.generation}` : i.url;
    return {
      repositories: [published, ...own.repositories, ...i.repositories],
      keyring: [...own.keyring, keyDir, ...i.keyUrls],
    };
  };
}

/**
 * Whether the published repository named in the coordinator's run info answers over HTTP (any
 * answer: the coordinator serving it is there). True when there is no HTTP repository to ask.
 */
export function repositoryAnswers(info: {
  read(): Promise<RepositoryInfo | undefined>;
}): () => Promise<boolean> {
  return async () => {
    const i = await info.read().catch(() => undefined);
    if (!i || !/^https?:/.test(i.url)) return true;
    try {
      const r = await fetch(i.url, { method: 'HEAD', signal: AbortSignal.timeout(PROBE_MS) });
      await r.body?.cancel();
      return true;
    } catch {
      return false;
    }
  };
}

/** How long the repository probe waits for an answer (a coordinator that takes longer counts as away). */
const PROBE_MS = 5000;

/** Sources on one machine (embedded): the output directory and the run's flags. */
export function localSources(published: string, own: OwnSources): () => Promise<EnvironmentSources> {
  const sources = { repositories: [published, ...own.repositories], keyring: [...own.keyring] };
  return async () => sources;
}
