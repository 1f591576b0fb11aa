import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { LiveSink } from './log-ref.js';

/** Per-build cap on the text kept (`--log-max-bytes`). */
export const DEFAULT_LOG_MAX_BYTES = 8 * 1024 * 1024;

/** The line a capped log ends its kept text with (then only the result lines follow). */
export const TRUNCATION_MARKER = '[melange2-orch] log truncated:';

export interface FinishedLog {
  /** The gzip file (a temporary one: `release` removes it once stored). */
  readonly file: string;
  readonly digest: string;
  readonly size: number;
  readonly bytes: number;
  readonly truncated: boolean;
  release(): Promise<void>;
}

/**
 * One build's log as it is written: timestamped lines, gzip-compressed into a temporary file
 * while the build runs (memory stays flat) and copied to a live sink. Past `maxBytes` of text
 * a marker line says so and further lines are counted, not kept; the closing lines (the
 * build's result) are always written.
 */
export class BuildLogWriter {
  readonly #maxBytes: number;
  readonly #live: LiveSink | undefined;
  readonly #gzip = createGzip({ level: 6 });
  readonly #hash = createHash('sha256');
  readonly #done: Promise<void>;
  #dir = '';
  #size = 0;
  #bytes = 0;
  #dropped = 0;
  #truncated = false;
  #ended = false;

  private constructor(dir: string, maxBytes: number, live: LiveSink | undefined) {
    this.#dir = dir;
    this.#maxBytes = maxBytes;
    this.#live = live;
    const tap = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        this.#hash.update(chunk);
        this.#size += chunk.length;
        cb(null, chunk);
      },
    });
    this.#done = pipeline(this.#gzip, tap, createWriteStream(join(dir, 'log.gz')));
    // Surfaced by finish(); an unobserved rejection must not crash the process meanwhile.
    this.#done.catch(() => undefined);
  }

  static async open(o: { maxBytes?: number; live?: LiveSink } = {}): Promise<BuildLogWriter> {
    const dir = await mkdtemp(join(tmpdir(), 'm2-log-'));
    return new BuildLogWriter(dir, o.maxBytes ?? DEFAULT_LOG_MAX_BYTES, o.live);
  }

  get truncated(): boolean {
    return this.#truncated;
  }

  /** One line (its newlines are kept as separate lines), stamped with `at`. */
  line(text: string, at: Date = new Date()): void {
    if (this.#ended) return;
    const stamp = at.toISOString();
    const out = text
      .split('\n')
      .map((l) => `${stamp} ${l}\n`)
      .join('');
    const n = Buffer.byteLength(out);
    if (this.#truncated || this.#bytes + n > this.#maxBytes) {
      if (!this.#truncated) {
        this.#truncated = true;
        this.#emit(
          `${stamp} ${TRUNCATION_MARKER} it reached the cap of ${this.#maxBytes} bytes (--log-max-bytes); later output is dropped, the result follows\n`,
        );
      }
      this.#dropped += n;
      return;
    }
    this.#emit(out);
  }

  #emit(s: string): void {
    this.#bytes += Buffer.byteLength(s);
    this.#gzip.write(s);
    this.#live?.write(s);
  }

  /** Writes the closing lines (never capped) and completes the gzip file. */
  async finish(closing: readonly string[]): Promise<FinishedLog> {
    if (this.#ended) throw new Error('log already finished');
    const at = new Date();
    if (this.#dropped > 0)
      this.#emit(`${at.toISOString()} [melange2-orch] ${this.#dropped} bytes of output dropped\n`);
    for (const l of closing) this.#emit(`${at.toISOString()} ${l}\n`);
    this.#ended = true;
    this.#gzip.end();
    await this.#done;
    await this.#live?.close();
    const dir = this.#dir;
    return {
      file: join(dir, 'log.gz'),
      digest: this.#hash.digest('hex'),
      size: this.#size,
      bytes: this.#bytes,
      truncated: this.#truncated,
      release: () => rm(dir, { recursive: true, force: true }),
    };
  }

  /** Drops the log (the build was abandoned before it had one worth keeping). */
  async discard(): Promise<void> {
    if (!this.#ended) {
      this.#ended = true;
      this.#gzip.end();
      await this.#done.catch(() => undefined);
      await this.#live?.close().catch(() => undefined);
    }
    await rm(this.#dir, { recursive: true, force: true });
  }
}
