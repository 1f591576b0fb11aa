import type { SolveEvent } from '@melange2/buildkit';
import type { BuildEvent } from '@melange2/engine';
import {
  type BuildJob,
  type BuildLogStore,
  BuildLogWriter,
  type LogRef,
  type LogState,
} from '@melange2/protocol';

/** Writes one line of a build's log (stamped with `at`, default now). */
export type LogLine = (text: string, at?: Date) => void;

/**
 * BuildKit progress as log lines, in the shape of `buildctl --progress=plain`: `#N name` when a
 * vertex starts, `#N <output>`, then `#N DONE 1.2s`, `#N CACHED` or `#N ERROR: …` (with the
 * exit code).
 */
export class ProgressLines {
  readonly #numbers = new Map<string, number>();
  constructor(readonly out: LogLine) {}

  #n(ev: SolveEvent & { vertex: { digest: string; name: string } }, at: Date): number {
    let n = this.#numbers.get(ev.vertex.digest);
    if (n === undefined) {
      n = this.#numbers.size + 1;
      this.#numbers.set(ev.vertex.digest, n);
      this.out(`#${n} ${ev.vertex.name}`, at);
    }
    return n;
  }

  solve(ev: SolveEvent): void {
    switch (ev.type) {
      case 'vertex.started':
        this.#n(ev, ev.started);
        return;
      case 'vertex.log':
        this.out(`#${this.#n(ev, ev.timestamp)} ${ev.line}`, ev.timestamp);
        return;
      case 'vertex.completed':
        this.out(`#${this.#n(ev, ev.completed)} DONE ${(ev.durationMs / 1000).toFixed(1)}s`, ev.completed);
        return;
      case 'vertex.cached':
        this.out(`#${this.#n(ev, ev.at)} CACHED`, ev.at);
        return;
      case 'vertex.errored':
        this.out(`#${this.#n(ev, ev.completed)} ERROR: ${ev.error}`, ev.completed);
        return;
      case 'vertex.warning': {
        const at = new Date();
        this.out(`#${this.#n(ev, at)} WARN: ${[ev.message, ...ev.detail].join('\n')}`, at);
        return;
      }
      case 'vertex.progress':
        // Transfer counters: only their end says anything a reader needs.
        if (ev.completed) {
          const at = new Date();
          this.out(`#${this.#n(ev, at)} ${ev.id} done (${ev.total || ev.current} bytes)`, at);
        }
        return;
    }
  }

  build(e: BuildEvent): void {
    if (e.type === 'stage') this.out(`== ${e.stage} (${e.arch})`);
    else if (e.type === 'environment')
      this.out(`environment: ${e.packages.length} package(s): ${e.packages.join(' ')}`);
    else if (e.type === 'package')
      this.out(`packaged ${e.apk.path.slice(e.apk.path.lastIndexOf('/') + 1)} (${e.apk.fileSize} bytes)`);
    else this.solve(e.event);
  }
}

/** One build's log while it runs: lines go to the writer; `end` stores it. */
export interface BuildLogSession {
  readonly line: LogLine;
  end(state: Exclude<LogState, 'running'>, closing: readonly string[]): Promise<void>;
}

export interface BuildLogOptions {
  readonly store: BuildLogStore;
  /** Per-build cap of kept text (`--log-max-bytes`). */
  readonly maxBytes?: number;
}

/** Starts a build's log: marks it running in the store and opens its live sink. */
export async function openBuildLog(
  o: BuildLogOptions,
  job: BuildJob,
  agent: string,
): Promise<BuildLogSession> {
  const ref: LogRef = {
    runId: job.runId,
    arch: job.arch,
    name: job.name,
    attempt: job.attempt,
    agent,
    state: 'running',
    startedAt: Date.now(),
  };
  const live = await o.store.begin(ref);
  const w = await BuildLogWriter.open({ live, ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}) });
  w.line(`build ${job.id} ${job.version} (run ${job.runId}, attempt ${job.attempt}) on agent ${agent}`);
  return {
    line: (text, at) => w.line(text, at),
    async end(state, closing) {
      const f = await w.finish(closing);
      try {
        await o.store.finish(
          {
            ...ref,
            state,
            finishedAt: Date.now(),
            digest: f.digest,
            size: f.size,
            bytes: f.bytes,
            ...(f.truncated ? { truncated: true } : {}),
          },
          f.file,
        );
      } finally {
        await f.release();
      }
    },
  };
}
