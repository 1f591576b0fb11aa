import { type Decode, NatsStateStore } from '@melange2/queue';
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { natsNames, REPOSITORY_INFO_KEY } from './names.js';

/**
 * What agents learn from the coordinator, and from nothing else: where the published repository
 * is served, the public key its index and packages are signed with, and the farm's extra
 * repositories and keys (the coordinator's `--repository-append` and `--keyring-append`). The
 * coordinator writes it (key `repository` of the `<ns>_info` bucket) before it dispatches; agents
 * only read it. Jobs never say where an environment installs from.
 */
export interface RepositoryInfo {
  readonly kind: 'repository';
  readonly runId: string;
  /** The repository's base URL (jobs add `/r/<generation>`), or a directory (same machine). */
  readonly url: string;
  /** The repository key first, then the extra trusted keys: file names as signatures name them, and PEMs. */
  readonly keys: readonly { readonly name: string; readonly pem: string }[];
  /** Extra repositories, after the published one. */
  readonly repositories: readonly string[];
  /** Extra trusted keys given as URLs. */
  readonly keyUrls: readonly string[];
}

const repositoryInfoSchema: z.ZodType<RepositoryInfo> = z.strictObject({
  kind: z.literal('repository'),
  runId: z.string().min(1).max(1024),
  url: z.string().min(1).max(4096),
  keys: z
    .array(
      z.strictObject({
        // A file name the agent writes the key under: no path separators, no dot first.
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,200}$/, 'not a key file name'),
        pem: z
          .string()
          .max(64 * 1024)
          .includes('PUBLIC KEY'),
      }),
    )
    .min(1)
    .max(64),
  repositories: z.array(z.string().min(1).max(4096)).max(256),
  keyUrls: z
    .array(
      z
        .string()
        .regex(/^https?:\/\//)
        .max(4096),
    )
    .max(256),
});

const decodeRepositoryInfo: Decode<RepositoryInfo> = (v) => {
  const r = repositoryInfoSchema.safeParse(v);
  if (!r.success) throw new Error(z.prettifyError(r.error), { cause: r.error });
  return r.data;
};

/** The coordinator's side: publishes the run's repository info (before the first dispatch). */
export async function writeRepositoryInfo(
  nc: NatsConnection,
  ns: string,
  info: RepositoryInfo,
): Promise<void> {
  const kv = await NatsStateStore.open(nc, natsNames(ns).info, { decode: decodeRepositoryInfo });
  await kv.put(REPOSITORY_INFO_KEY, decodeRepositoryInfo(info));
}

/** The agent's side: reads the repository info (bound to the bucket, never creating it). */
export async function repositoryInfoReader(
  nc: NatsConnection,
  ns: string,
): Promise<{ read(): Promise<RepositoryInfo | undefined> }> {
  let kv: NatsStateStore<RepositoryInfo> | undefined;
  return {
    async read() {
      // Bound lazily: the coordinator creates the bucket, and may start after the agent. Read by
      // direct get (the key in the request subject), the one read an agent's role allows.
      kv ??= await NatsStateStore.bind(nc, natsNames(ns).info, {
        decode: decodeRepositoryInfo,
        direct: true,
      });
      return (await kv.get(REPOSITORY_INFO_KEY))?.value;
    },
  };
}
