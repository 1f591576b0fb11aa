/**
 * `plan --published`: which `name-version` pairs a published repository already has, per arch.
 * Reading and checking the APKINDEX itself is libs/apk's job (`readIndexArchive`, `parseIndexText`).
 */
import { readFileSync } from 'node:fs';
import { ApkError, type IndexEntry, parseIndexText, readIndexArchive } from '@melange2/apk';

export class PublishedIndexError extends Error {
  override readonly name = 'PublishedIndexError';
  constructor(
    /** `PUBLISHED_INDEX_UNREADABLE`: the file cannot be read; `PUBLISHED_INDEX_INVALID`: it is no APKINDEX. */
    readonly code: 'PUBLISHED_INDEX_UNREADABLE' | 'PUBLISHED_INDEX_INVALID',
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message.startsWith(file) ? message : `${file}: ${message}`, options);
  }
}

/** The published (name, version, arch) triples. */
export class PublishedIndex {
  private readonly keys = new Set<string>();
  count = 0;

  add(name: string, version: string, arch: string): void {
    this.keys.add(`${name}\0${version}\0${arch}`);
    this.count++;
  }

  /** `noarch` packages count for every arch. */
  has(name: string, fullVersion: string, arch: string): boolean {
    return (
      this.keys.has(`${name}\0${fullVersion}\0${arch}`) || this.keys.has(`${name}\0${fullVersion}\0noarch`)
    );
  }
}

/** Reads `APKINDEX.tar.gz` files (signed or not; signatures are not checked here) or bare APKINDEX text. */
export function readPublishedIndex(files: readonly string[]): PublishedIndex {
  const idx = new PublishedIndex();
  for (const file of files) {
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (e) {
      throw new PublishedIndexError(
        'PUBLISHED_INDEX_UNREADABLE',
        file,
        `cannot read: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    let entries: IndexEntry[];
    try {
      entries =
        buf[0] === 0x1f && buf[1] === 0x8b
          ? readIndexArchive(buf, file).index.entries
          : parseIndexText(buf.toString('utf8'), file);
    } catch (e) {
      if (e instanceof ApkError)
        throw new PublishedIndexError('PUBLISHED_INDEX_INVALID', file, e.message, { cause: e });
      throw e;
    }
    for (const e of entries) idx.add(e.name, e.version, e.arch);
  }
  return idx;
}
