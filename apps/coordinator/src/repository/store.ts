import type { Readable } from 'node:stream';

/**
 * Where a repository's files live: `<arch>/<name>.apk` and `<arch>/APKINDEX.tar.gz`. A file is
 * visible only once complete (an interrupted upload leaves nothing), and a published .apk is
 * never overwritten with other bytes (no-clobber, as Wolfi's publishing learned the hard way).
 */
export interface RepositoryStore {
  readonly description: string;
  /** Adds a package file from a local path; the same bytes again is a no-op, other bytes an error. */
  putApk(arch: string, filename: string, source: string): Promise<void>;
  /** Replaces the index of an arch, atomically. */
  putIndex(arch: string, bytes: Buffer): Promise<void>;
  readIndex(arch: string): Promise<Buffer | undefined>;
  /** A stream of a file, or undefined when there is none. */
  open(arch: string, filename: string): Promise<{ stream: Readable; size: number } | undefined>;
  list(arch: string): Promise<string[]>;
}

export class RepositoryError extends Error {
  override readonly name = 'RepositoryError';
  constructor(
    message: string,
    readonly arch: string,
    readonly filename: string,
    options?: { cause?: unknown },
  ) {
    super(`${arch}/${filename}: ${message}`, options);
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+~-]*$/;

/** Arch and file names become paths and object names: refuse anything that could escape. */
export function checkName(arch: string, filename: string): void {
  if (!/^[a-z0-9_]+$/.test(arch)) throw new RepositoryError('not a valid arch name', arch, filename);
  if (!NAME_RE.test(filename) || filename.includes('..')) {
    throw new RepositoryError('not a valid file name', arch, filename);
  }
}

export const INDEX_NAME = 'APKINDEX.tar.gz';
