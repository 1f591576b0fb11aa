import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type Entry, KeyExistsError, RevisionMismatchError, type StateStore } from '@melange2/queue';

/** What a run keeps in its state store (JetStream KV, or a file in embedded mode). */
export type StateRecord =
  | {
      readonly kind: 'run';
      readonly runId: string;
      readonly repo: string;
      readonly arches: readonly string[];
      readonly status: 'running' | 'finished';
      readonly startedAt: number;
      readonly finishedAt?: number;
    }
  | {
      readonly kind: 'build';
      readonly runId: string;
      readonly state: 'dispatched' | 'running' | 'succeeded' | 'failed' | 'skipped';
      readonly attempt: number;
      readonly version: string;
      readonly reason?: string;
      readonly agent?: string;
      /** Recorded duration: the critical path's cost of this build next time. */
      readonly durationMs?: number;
      readonly logTail?: readonly string[];
    }
  /** A failure remembered by input: the same config is not rebuilt to fail again (`--retry-failed`). */
  | { readonly kind: 'failure'; readonly input: string; readonly version: string; readonly reason: string };

export const runKey = 'run';
export const buildKey = (arch: string, name: string) => `build.${arch}.${name}`;
export const failureKey = (arch: string, name: string) => `failure.${arch}.${name}`;

/**
 * A StateStore in one JSON file, written atomically (temp + rename) after every change: the
 * embedded mode's equivalent of the KV bucket, so an interrupted `build-all` resumes too.
 */
export class FileStateStore<T> implements StateStore<T> {
  readonly bucket: string;
  readonly #data = new Map<string, { value: T; revision: number }>();
  #revision = 0;

  constructor(readonly file: string) {
    this.bucket = file;
    let text: string | undefined;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return;
    }
    try {
      const saved = JSON.parse(text) as {
        revision: number;
        entries: [string, { value: T; revision: number }][];
      };
      this.#revision = saved.revision;
      for (const [k, v] of saved.entries) this.#data.set(k, v);
    } catch (e) {
      throw new Error(`${file}: not a state file (${(e as Error).message}); remove it to start afresh`);
    }
  }

  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Writes are coalesced (at most one file write per 100 ms): rewriting the whole file per change
   * would be quadratic on a big repository. What a crash loses is at most the last 100 ms, and an
   * embedded run loses its in-flight builds anyway.
   */
  #save(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => this.flush(), 100);
  }

  /** Writes pending changes now (at the end of a run). */
  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ revision: this.#revision, entries: [...this.#data] }));
    renameSync(tmp, this.file);
  }

  async get(key: string): Promise<Entry<T> | undefined> {
    const e = this.#data.get(key);
    return e ? { key, value: structuredClone(e.value), revision: e.revision } : undefined;
  }

  async put(key: string, value: T): Promise<number> {
    const revision = ++this.#revision;
    this.#data.set(key, { value: structuredClone(value), revision });
    this.#save();
    return revision;
  }

  async create(key: string, value: T): Promise<number> {
    if (this.#data.has(key)) throw new KeyExistsError(this.bucket, key);
    return this.put(key, value);
  }

  async update(key: string, value: T, revision: number): Promise<number> {
    if (this.#data.get(key)?.revision !== revision)
      throw new RevisionMismatchError(this.bucket, key, revision);
    return this.put(key, value);
  }

  async delete(key: string): Promise<void> {
    if (this.#data.delete(key)) this.#save();
  }

  async keys(prefix = ''): Promise<string[]> {
    return [...this.#data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}
