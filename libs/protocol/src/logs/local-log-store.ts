import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  type BuildLogStore,
  type BuildOfRun,
  decodeLogRef,
  type LiveSink,
  type LogKey,
  type LogRef,
  type LogRetention,
  type LogRun,
  logPath,
  refsOf,
  runsToDrop,
} from './log-ref.js';

/** How often a follower looks for new text in a live file. */
const POLL_MS = 200;

async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/**
 * Logs in a directory (embedded mode: `<out-dir>/.melange2-logs`): `runs/<run>/<arch>/<name>.json`
 * references, `blobs/<run>/<sha256>.log.gz` finished logs, `live/<run>/<arch>/<name>.log` the
 * text of running builds (another process follows it by reading the file as it grows).
 */
export class LocalLogStore implements BuildLogStore {
  constructor(readonly root: string) {}

  #ref(k: LogKey): string {
    return join(this.root, 'runs', `${logPath(k)}.json`);
  }

  #live(k: LogKey): string {
    return join(this.root, 'live', `${logPath(k)}.log`);
  }

  #blob(runId: string, digest: string): string {
    return join(this.root, 'blobs', runId, `${digest}.log.gz`);
  }

  async begin(ref: LogRef): Promise<LiveSink> {
    const live = this.#live(ref);
    await mkdir(dirname(live), { recursive: true });
    const out = createWriteStream(live);
    await new Promise<void>((resolve, reject) => out.once('open', () => resolve()).once('error', reject));
    await writeAtomic(this.#ref(ref), JSON.stringify(ref));
    let failed: Error | undefined;
    out.on('error', (e) => {
      failed = e;
    });
    return {
      write: (chunk) => {
        if (!failed) out.write(chunk);
      },
      close: () => new Promise<void>((r) => out.end(() => r())),
    };
  }

  async finish(ref: LogRef & { digest: string }, gzFile: string): Promise<void> {
    const blob = this.#blob(ref.runId, ref.digest);
    await mkdir(dirname(blob), { recursive: true });
    const tmp = `${blob}.tmp-${process.pid}`;
    await copyFile(gzFile, tmp);
    await rename(tmp, blob);
    await writeAtomic(this.#ref(ref), JSON.stringify(ref));
    await rm(this.#live(ref), { force: true });
  }

  async ref(k: LogKey): Promise<LogRef | undefined> {
    const path = this.#ref(k);
    const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    return text === undefined ? undefined : decodeLogRef(logPath(k), text);
  }

  async blob(ref: LogRef & { digest: string }): Promise<NodeJS.ReadableStream | undefined> {
    const path = this.#blob(ref.runId, ref.digest);
    try {
      await stat(path);
    } catch {
      return undefined;
    }
    return createReadStream(path);
  }

  async *live(
    k: LogKey,
    o: { signal?: AbortSignal; done: () => Promise<boolean> },
  ): AsyncIterable<Uint8Array> {
    const path = this.#live(k);
    let offset = 0;
    const buf = Buffer.alloc(64 * 1024);
    while (!o.signal?.aborted) {
      let got = 0;
      const fh = await open(path, 'r').catch(() => undefined);
      if (fh) {
        try {
          for (;;) {
            const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
            if (bytesRead === 0) break;
            offset += bytesRead;
            got += bytesRead;
            yield Uint8Array.prototype.slice.call(buf, 0, bytesRead);
          }
        } finally {
          await fh.close();
        }
      }
      if (got === 0) {
        if (await o.done()) return;
        await delay(POLL_MS, undefined, o.signal ? { signal: o.signal } : {}).catch(() => undefined);
      }
    }
  }

  async runs(): Promise<LogRun[]> {
    const ids = await readdir(join(this.root, 'runs')).catch(() => [] as string[]);
    const out: LogRun[] = [];
    for (const runId of ids) {
      let at = 0;
      for (const f of await this.#refFiles(runId)) at = Math.max(at, (await stat(f)).mtimeMs);
      out.push({ runId, at });
    }
    return out.sort((a, b) => b.at - a.at || (a.runId < b.runId ? 1 : -1));
  }

  async abandon(runId: string, only?: readonly BuildOfRun[]): Promise<string[]> {
    const out: string[] = [];
    for (const r of await refsOf(this, runId, only)) {
      if (r.state !== 'running') continue;
      await writeAtomic(this.#ref(r), JSON.stringify({ ...r, state: 'cancelled', finishedAt: Date.now() }));
      out.push(logPath(r));
    }
    return out;
  }

  async latest(): Promise<string | undefined> {
    return (await this.runs())[0]?.runId;
  }

  async #refFiles(runId: string): Promise<string[]> {
    const dir = join(this.root, 'runs', runId);
    const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
    return entries
      .filter((e) => e.isFile() && e.name.endsWith('.json'))
      .map((e) => join(e.parentPath, e.name));
  }

  async list(runId: string): Promise<LogRef[]> {
    const files = await this.#refFiles(runId);
    return Promise.all(files.map(async (f) => decodeLogRef(f, await readFile(f, 'utf8'))));
  }

  async prune(keep: LogRetention): Promise<string[]> {
    const drop = runsToDrop(await this.runs(), keep);
    for (const id of drop) {
      logPath({ runId: id, arch: 'a', name: 'n' });
      for (const part of ['runs', 'blobs', 'live'])
        await rm(join(this.root, part, id), { recursive: true, force: true });
    }
    return drop;
  }
}
