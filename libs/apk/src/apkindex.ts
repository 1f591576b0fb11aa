/** Index operations: build an archive, add packages to an index file, update, digest. */

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFileAtomic } from './fsutil.js';
import type { Keyring } from './keys.js';
import type { SigningKeys } from './pack.js';
import { IncrementalIndex } from './incremental-index.js';
import { indexEntryFromApk } from './index-archive.js';
import { type ApkIndex, formatIndexText, type IndexEntry } from './index-text.js';

/**
 * `APKINDEX.tar.gz` bytes: signature member (RSA256 over the index member) when a key is given.
 * Built the same way as IncrementalIndex, so equal content gives equal bytes either way.
 */
export function buildIndexArchive(
  index: ApkIndex,
  opts: { signingKey?: SigningKeys; sourceDateEpoch?: number; level?: number } = {},
): Buffer {
  return IncrementalIndex.fromIndex(index).build(opts);
}

export interface IndexChange {
  add?: readonly IndexEntry[];
  /** Entries to drop, by name and version (and arch, when given). */
  remove?: readonly { name: string; version: string; arch?: string }[];
}

/** Applies additions (replacing the same name+version+arch) and removals; unchanged entries are reused as they are. */
export function updateIndex(index: ApkIndex, change: IndexChange): ApkIndex {
  const key = (e: { name: string; version: string; arch?: string }) =>
    `${e.name}\0${e.version}\0${e.arch ?? ''}`;
  const drop = new Set<string>();
  const dropAnyArch = new Set<string>();
  for (const r of change.remove ?? []) (r.arch === undefined ? dropAnyArch : drop).add(key(r));
  for (const a of change.add ?? []) drop.add(key(a));
  const kept = index.entries.filter(
    (e) => !drop.has(key(e)) && !dropAnyArch.has(key({ name: e.name, version: e.version })),
  );
  return { description: index.description, entries: [...kept, ...(change.add ?? [])] };
}

/**
 * Adds packages to an index file incrementally and writes it back signed, atomically: only the new
 * .apk files are read. A missing index file starts empty.
 */
export async function addToIndexFile(
  indexPath: string,
  apks: readonly string[],
  opts: {
    signingKey?: SigningKeys;
    keyring?: Keyring;
    description?: string;
    rewriteArch?: string;
    remove?: IndexChange['remove'];
    sourceDateEpoch?: number;
    /** Start from an empty index instead of the existing file. */
    fresh?: boolean;
  } = {},
): Promise<ApkIndex> {
  const add = await Promise.all(
    apks.map((p) => indexEntryFromApk(p, opts.rewriteArch ? { rewriteArch: opts.rewriteArch } : {})),
  );
  if (!opts.fresh && existsSync(indexPath)) {
    // Merging: the unchanged chunks of the existing file are reused compressed, not re-deflated.
    const idx = IncrementalIndex.open(indexPath, {
      ...(opts.keyring && { keyring: opts.keyring }),
      ...(opts.description !== undefined && { description: opts.description }),
    });
    for (const r of opts.remove ?? []) idx.remove(r.name, r.version, r.arch);
    idx.addEntries(add);
    writeFileAtomic(
      indexPath,
      idx.build({
        ...(opts.signingKey && { signingKey: opts.signingKey }),
        ...(opts.sourceDateEpoch !== undefined && { sourceDateEpoch: opts.sourceDateEpoch }),
      }),
    );
    return { description: idx.description, entries: idx.entries };
  }
  const base: ApkIndex = { description: opts.description ?? '', entries: [] };
  const next = updateIndex(base, { add, ...(opts.remove && { remove: opts.remove }) });
  if (opts.description !== undefined) next.description = opts.description;
  const buf = buildIndexArchive(next, {
    ...(opts.signingKey && { signingKey: opts.signingKey }),
    ...(opts.sourceDateEpoch !== undefined && { sourceDateEpoch: opts.sourceDateEpoch }),
  });
  writeFileAtomic(indexPath, buf);
  return next;
}

/** A stable digest of an index's content, for tests and caches. */
export function indexDigest(index: ApkIndex): string {
  return createHash('sha256')
    .update(index.description)
    .update('\0')
    .update(formatIndexText(index.entries))
    .digest('hex');
}
