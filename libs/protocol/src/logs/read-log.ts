import { createHash } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { type BuildLogStore, LogError, type LogKey, type LogRef, logPath } from './log-ref.js';

/** The latest run with logs, or undefined when there is none. */
export async function latestRun(store: BuildLogStore): Promise<string | undefined> {
  return store.latest();
}

/**
 * The text of a finished log from byte `from` (streamed: gunzipped as it is read). The blob is
 * checked against its digest as it passes: a mismatch ends the stream with an error.
 */
export async function* finishedText(store: BuildLogStore, ref: LogRef, from = 0): AsyncIterable<Uint8Array> {
  const path = logPath(ref);
  if (!ref.digest) throw new LogError('log-not-found', path, 'the build has no finished log yet');
  const gz = await store.blob({ ...ref, digest: ref.digest });
  if (!gz) throw new LogError('log-not-found', path, `blob ${ref.digest} is missing`);
  const hash = createHash('sha256');
  const gunzip = createGunzip();
  const feed = (async () => {
    for await (const c of gz as AsyncIterable<Buffer>) {
      hash.update(c);
      if (!gunzip.write(c)) await new Promise((r) => gunzip.once('drain', r));
    }
    gunzip.end();
  })();
  feed.catch((e: unknown) => gunzip.destroy(e as Error));
  let skip = from;
  for await (const c of gunzip as AsyncIterable<Buffer>) {
    if (skip >= c.length) {
      skip -= c.length;
      continue;
    }
    yield skip > 0 ? c.subarray(skip) : c;
    skip = 0;
  }
  await feed;
  if (hash.digest('hex') !== ref.digest)
    throw new LogError('log-corrupt', path, `blob does not match its digest ${ref.digest}`);
}

/**
 * A build's log: the finished one, or with `follow` a running build's text as it comes and then
 * the rest once it finishes. Without `follow` a running build gives what it has written so far.
 */
export async function* readLog(
  store: BuildLogStore,
  k: LogKey,
  o: { follow?: boolean; signal?: AbortSignal } = {},
): AsyncIterable<Uint8Array> {
  let ref = await store.ref(k);
  if (!ref) throw new LogError('log-not-found', logPath(k), 'no log for this build in this run');
  let sent = 0;
  if (ref.state === 'running' || !ref.digest) {
    let idle = false;
    const done = async () => {
      if (!o.follow) {
        idle = true;
        return true;
      }
      ref = (await store.ref(k)) ?? ref;
      return ref?.state !== 'running';
    };
    for await (const c of store.live(k, { ...(o.signal ? { signal: o.signal } : {}), done })) {
      sent += c.length;
      yield c;
    }
    if (!o.follow || idle || o.signal?.aborted) return;
    ref = (await store.ref(k)) ?? ref;
    // Still running (stopped following), or abandoned with no finished log: the text so far it is.
    if (ref.state === 'running' || !ref.digest) return;
  }
  yield* finishedText(store, ref, sent);
}
