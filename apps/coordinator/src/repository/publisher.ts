import {
  type ApkIndex,
  buildIndexArchive,
  ApkError,
  type IndexEntry,
  indexDigest,
  indexEntryFromApk,
  Keyring,
  publicPemOf,
  readIndexArchive,
  resignIndexArchive,
  type SigningKey,
  updateIndex,
} from '@melange2/apk';
import { type Decode, KeyExistsError, RevisionMismatchError, type StateStore } from '@melange2/queue';
import { z } from 'zod';
import { INDEX_NAME, type RepositoryStore } from './store.js';

/** What the publisher records per arch, so a restarted coordinator knows the index it left. */
export interface IndexRecord {
  readonly kind: 'index';
  readonly revision: number;
  readonly digest: string;
  readonly entries: number;
}

/** Who is writing an arch's index right now, and until when the lease holds. */
interface IndexLock {
  readonly kind: 'lock';
  readonly holder: string;
  readonly until: number;
}

export type PublisherRecord = IndexRecord | IndexLock;

const publisherRecordSchema: z.ZodType<PublisherRecord> = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('index'), revision: z.number(), digest: z.string(), entries: z.number() }),
  z.object({ kind: z.literal('lock'), holder: z.string(), until: z.number() }),
]);

/** Checks a publisher record read back from the store. */
export const decodePublisherRecord: Decode<PublisherRecord> = (v) => {
  const r = publisherRecordSchema.safeParse(v);
  if (!r.success) throw new Error(z.prettifyError(r.error), { cause: r.error });
  return r.data;
};

export interface PublishRequest {
  readonly arch: string;
  /** Local .apk files (verified, then uploaded, then indexed). */
  readonly apks: readonly string[];
}

export interface PublishResult {
  /** The index revision that first contains these packages. */
  readonly revision: number;
  readonly entries: readonly IndexEntry[];
}

class IndexLockTimeoutError extends Error {
  override readonly name = 'IndexLockTimeoutError';
  constructor(
    readonly arch: string,
    readonly holder: string,
  ) {
    super(`${arch}/${INDEX_NAME}: still locked by ${holder}; gave up waiting`);
  }
}

const LEASE_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Waiting {
  readonly entries: IndexEntry[];
  resolve(r: PublishResult): void;
  reject(e: unknown): void;
}

/**
 * The writer of each arch's APKINDEX. Packages are verified and uploaded first, so the index
 * never names a missing file; then a burst of publishes is coalesced into one signed index
 * write. Writers in other processes (a second coordinator, a restarted one) are kept out by a
 * lease taken with compare-and-set in the state store, so no entry is ever lost between them.
 */
export class IndexPublisher {
  readonly #queues = new Map<string, Waiting[]>();
  readonly #running = new Set<string>();
  readonly #cache = new Map<string, { digest: string; index: ApkIndex }>();
  readonly #holder = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;

  constructor(
    readonly o: {
      readonly store: RepositoryStore;
      readonly signingKey: SigningKey;
      readonly records: StateStore<PublisherRecord>;
      /** Packages must verify against it before they are published. */
      readonly keyring?: Keyring;
      readonly description?: string;
      readonly sourceDateEpoch?: number;
    },
  ) {}

  async publish(req: PublishRequest): Promise<PublishResult> {
    const entries = await Promise.all(
      req.apks.map((p) => indexEntryFromApk(p, this.o.keyring ? { keyring: this.o.keyring } : {})),
    );
    for (const e of entries) {
      if (e.arch !== req.arch)
        throw new Error(`${e.name}-${e.version}: built for ${e.arch}, published to ${req.arch}`);
    }
    await Promise.all(req.apks.map((p, i) => this.o.store.putApk(req.arch, fileName(entries[i]!), p)));
    return new Promise<PublishResult>((resolve, reject) => {
      const waiting = { entries, resolve, reject };
      const q = this.#queues.get(req.arch);
      if (q) q.push(waiting);
      else this.#queues.set(req.arch, [waiting]);
      void this.#drain(req.arch);
    });
  }

  /**
   * Key rotation: an arch's index signed by another key than this publisher's is re-signed with
   * it (the index member kept byte for byte, under the write lease). Whether it was.
   */
  async resignIndex(arch: string): Promise<boolean> {
    const mine = new Keyring().add(this.o.signingKey.publicName, publicPemOf(this.o.signingKey));
    const where = `${this.o.store.description}/${arch}/${INDEX_NAME}`;
    const signedByMe = (bytes: Buffer) => {
      try {
        readIndexArchive(bytes, where, { keyring: mine });
        return true;
      } catch (e) {
        if (e instanceof ApkError && ['unsigned', 'untrusted', 'bad-signature'].includes(e.code))
          return false;
        throw e;
      }
    };
    const before = await this.o.store.readIndex(arch);
    if (!before || signedByMe(before)) return false;
    const unlock = await this.#lock(arch);
    try {
      const bytes = await this.o.store.readIndex(arch);
      if (!bytes || signedByMe(bytes)) return false;
      await this.o.store.putIndex(
        arch,
        resignIndexArchive(bytes, where, this.o.signingKey, this.o.sourceDateEpoch),
      );
      return true;
    } finally {
      await unlock();
    }
  }

  /** The record and index of an arch as they are in the store now. */
  async current(arch: string): Promise<{ record: IndexRecord | undefined; index: ApkIndex }> {
    const record = await this.#record(arch);
    return { record, index: await this.#index(arch, record) };
  }

  async #record(arch: string): Promise<IndexRecord | undefined> {
    const e = await this.o.records.get(`index.${arch}`);
    return e?.value.kind === 'index' ? e.value : undefined;
  }

  async #index(arch: string, record: IndexRecord | undefined): Promise<ApkIndex> {
    const cached = this.#cache.get(arch);
    if (cached && record && cached.digest === record.digest) return cached.index;
    const bytes = await this.o.store.readIndex(arch);
    const index = bytes
      ? readIndexArchive(bytes, `${this.o.store.description}/${arch}/${INDEX_NAME}`).index
      : { description: this.o.description ?? '', entries: [] };
    this.#cache.set(arch, { digest: indexDigest(index), index });
    return index;
  }

  /** Takes the arch's write lease; a lease left by a crashed writer is taken over once it expires. */
  async #lock(arch: string, waitMs = 5 * LEASE_MS): Promise<() => Promise<void>> {
    const key = `lock.${arch}`;
    const mine: IndexLock = { kind: 'lock', holder: this.#holder, until: Date.now() + LEASE_MS };
    const deadline = Date.now() + waitMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      try {
        await this.o.records.create(key, mine);
        break;
      } catch (e) {
        if (!(e instanceof KeyExistsError)) throw e;
      }
      const held = await this.o.records.get(key);
      if (held?.value.kind === 'lock' && held.value.until < Date.now()) {
        try {
          await this.o.records.update(key, mine, held.revision);
          break;
        } catch (e) {
          if (!(e instanceof RevisionMismatchError)) throw e;
        }
      }
      if (Date.now() > deadline) {
        throw new IndexLockTimeoutError(arch, held?.value.kind === 'lock' ? held.value.holder : 'unknown');
      }
      await sleep(delay);
    }
    return () => this.o.records.delete(key);
  }

  async #drain(arch: string): Promise<void> {
    if (this.#running.has(arch)) return;
    this.#running.add(arch);
    try {
      for (;;) {
        const batch = this.#queues.get(arch)?.splice(0) ?? [];
        if (batch.length === 0) return;
        try {
          const result = await this.#write(
            arch,
            batch.flatMap((w) => w.entries),
          );
          for (const w of batch) w.resolve({ revision: result.revision, entries: w.entries });
        } catch (e) {
          for (const w of batch) w.reject(e);
        }
      }
    } finally {
      this.#running.delete(arch);
    }
  }

  async #write(arch: string, add: IndexEntry[]): Promise<IndexRecord> {
    const unlock = await this.#lock(arch);
    try {
      const record = await this.#record(arch);
      const next = updateIndex(await this.#index(arch, record), { add });
      const written: IndexRecord = {
        kind: 'index',
        revision: (record?.revision ?? 0) + 1,
        digest: indexDigest(next),
        entries: next.entries.length,
      };
      const bytes = buildIndexArchive(next, {
        signingKey: this.o.signingKey,
        ...(this.o.sourceDateEpoch !== undefined && { sourceDateEpoch: this.o.sourceDateEpoch }),
      });
      await this.o.store.putIndex(arch, bytes);
      await this.o.records.put(`index.${arch}`, written);
      this.#cache.set(arch, { digest: written.digest, index: next });
      return written;
    } finally {
      await unlock();
    }
  }
}

/** `<name>-<version>.apk`, the file name apk fetches for an index entry. */
function fileName(e: { name: string; version: string }): string {
  return `${e.name}-${e.version}.apk`;
}
