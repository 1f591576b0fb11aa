import { KeyExistsError, RevisionMismatchError } from './errors.js';

/**
 * A small key-value store with revisions, for run state, recorded durations and index
 * revisions: compare-and-set (`update` with the revision read) is how concurrent writers
 * (a restarted coordinator, several publishers) never lose each other's writes.
 */
export interface Entry<T> {
  readonly key: string;
  readonly value: T;
  readonly revision: number;
}

/**
 * Checks a record read back from a store and returns it typed, or throws saying what is wrong:
 * what another process (or an older build) wrote is data from outside.
 */
export type Decode<T> = (value: unknown) => T;

export interface StateStore<T> {
  readonly bucket: string;
  get(key: string): Promise<Entry<T> | undefined>;
  put(key: string, value: T): Promise<number>;
  /**
   * Writes without waiting for the store to confirm it (over NATS no answer travels back): a
   * write that is lost is not told. Only for records nothing depends on (a hint for next time).
   */
  putNoWait(key: string, value: T): void;
  /** Fails with KeyExistsError when the key exists. */
  create(key: string, value: T): Promise<number>;
  /** Fails with RevisionMismatchError when the key changed since `revision`. */
  update(key: string, value: T, revision: number): Promise<number>;
  delete(key: string): Promise<void>;
  /** Keys under a prefix (`run.` etc.), sorted. */
  keys(prefix?: string): Promise<string[]>;
}

/** Retries `fn(current)` until its compare-and-set write wins; returns the written entry. */
export async function modify<T>(
  store: StateStore<T>,
  key: string,
  fn: (current: T | undefined) => T,
  attempts = 100,
): Promise<Entry<T>> {
  for (let i = 0; ; i++) {
    const cur = await store.get(key);
    const next = fn(cur?.value);
    try {
      const revision = cur ? await store.update(key, next, cur.revision) : await store.create(key, next);
      return { key, value: next, revision };
    } catch (e) {
      const lost = e instanceof RevisionMismatchError || e instanceof KeyExistsError;
      if (!lost || i + 1 >= attempts) throw e;
    }
  }
}

/**
 * NATS KV keys allow `[-/_=.a-zA-Z0-9]`; package names also use `+` and `@`. Every other byte
 * becomes `=XX` (hex), which is reversible and keeps `.` as the hierarchy separator.
 */
/** A key with nothing to escape (most are): returned as it is. */
const PLAIN_KEY = /^[-/_.a-zA-Z0-9]*$/;

export function encodeKey(key: string): string {
  if (PLAIN_KEY.test(key)) return key;
  return key.replace(/[^-/_.a-zA-Z0-9]/g, (c) =>
    [...Buffer.from(c, 'utf8')].map((b) => `=${b.toString(16).padStart(2, '0').toUpperCase()}`).join(''),
  );
}

export function decodeKey(key: string): string {
  return Buffer.from(
    key.replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
    'latin1',
  ).toString('utf8');
}

/** What a MemoryStateStore holds, as subclasses persist and restore it. */
export interface StateSnapshot<T> {
  readonly revision: number;
  readonly entries: readonly (readonly [string, { readonly value: T; readonly revision: number }])[];
}

export class MemoryStateStore<T> implements StateStore<T> {
  readonly #data = new Map<string, { value: T; revision: number }>();
  #revision = 0;

  constructor(readonly bucket = 'memory') {}

  /** Called after every write; a persistent subclass saves here. */
  protected onChange(): void {}

  protected snapshot(): StateSnapshot<T> {
    return { revision: this.#revision, entries: [...this.#data] };
  }

  protected restore(s: StateSnapshot<T>): void {
    this.#revision = s.revision;
    this.#data.clear();
    for (const [k, v] of s.entries) this.#data.set(k, { value: v.value, revision: v.revision });
  }

  async get(key: string): Promise<Entry<T> | undefined> {
    const e = this.#data.get(key);
    return e ? { key, value: structuredClone(e.value), revision: e.revision } : undefined;
  }

  async put(key: string, value: T): Promise<number> {
    const revision = ++this.#revision;
    this.#data.set(key, { value: structuredClone(value), revision });
    this.onChange();
    return revision;
  }

  putNoWait(key: string, value: T): void {
    this.put(key, value).catch(() => {});
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
    if (this.#data.delete(key)) this.onChange();
  }

  async keys(prefix = ''): Promise<string[]> {
    return [...this.#data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}
