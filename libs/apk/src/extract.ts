/**
 * Extracting one verified package into its own directory: every entry name is checked first, and
 * nothing is written outside it or through a symlink.
 */

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, lchown, link, lstat, lutimes, mkdir, rm, symlink, utimes } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ApkError } from './errors.js';
import { type ApkHead, type DataEntry, readApkData } from './read.js';

/** What the installed DB needs to know about one extracted entry. */
export interface InstalledFile {
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'link';
  mode: number;
  uid: number;
  gid: number;
  /** Hex SHA-1 (content, or link target for symlinks). */
  sha1?: string;
}

function unsafe(pkg: string, entry: string, why: string): never {
  throw new ApkError('unsafe-path', `${pkg}: entry "${entry}" ${why}; nothing was written outside the root`, {
    pkg,
    entry,
  });
}

/** Rejects absolute names, `.`/`..` components, empty components and control characters. */
function checkEntryName(pkg: string, name: string): void {
  if (name === '' || name.startsWith('/')) unsafe(pkg, name, 'is an absolute or empty path');
  if (/[\x00-\x1f\x7f]/.test(name)) unsafe(pkg, name, 'contains control characters');
  for (const c of name.split('/')) {
    if (c === '..') unsafe(pkg, name, 'leads out of the root (..)');
    if (c === '.' || c === '') unsafe(pkg, name, 'has an empty or "." component');
  }
}

/** True when a relative symlink at `entry` pointing to `target` stays inside the root. */
function symlinkStaysInside(entry: string, target: string): boolean {
  if (target.startsWith('/')) return true;
  const joined = posix.normalize(posix.join(posix.dirname(entry), target));
  return joined !== '..' && !joined.startsWith('../');
}

export const isRoot = () => process.getuid?.() === 0;

/**
 * Extracts a verified package's data member into `dest` (which must not exist yet); returns the
 * installed-file list. Every name is checked first; nothing is written through a symlink.
 */
export async function extractPackage(head: ApkHead, dest: string): Promise<InstalledFile[]> {
  const pkg = `${head.info.name}-${head.info.version}`;
  const files: InstalledFile[] = [];
  const symlinks = new Set<string>();
  const regular = new Map<string, InstalledFile>();
  const dirs: { abs: string; mtime: number }[] = [];
  await mkdir(dest, { recursive: true });
  const viaSymlink = (name: string) => {
    let i = name.indexOf('/');
    while (i >= 0) {
      if (symlinks.has(name.slice(0, i))) return name.slice(0, i);
      i = name.indexOf('/', i + 1);
    }
    return undefined;
  };
  await readApkData(head, async (e: DataEntry, content) => {
    checkEntryName(pkg, e.name);
    // apk skips top-level dot names in the data section.
    if (e.name.startsWith('.')) {
      for await (const _ of content);
      return;
    }
    const through = viaSymlink(e.name);
    if (through) unsafe(pkg, e.name, `goes through the symlink "${through}"`);
    const abs = join(dest, e.name);
    const existing = await lstat(abs).catch(() => undefined);
    if (existing?.isSymbolicLink()) unsafe(pkg, e.name, 'would be written through a symlink');
    const rec: InstalledFile = { path: e.name, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid };
    switch (e.type) {
      case 'directory':
        if (!existing) await mkdir(abs);
        await chmod(abs, e.mode);
        dirs.push({ abs, mtime: e.mtime });
        break;
      case 'symlink':
        if (!symlinkStaysInside(e.name, e.linkname))
          unsafe(pkg, e.name, `is a symlink to "${e.linkname}", outside the root`);
        if (existing) await rm(abs, { recursive: true });
        await symlink(e.linkname, abs);
        symlinks.add(e.name);
        rec.sha1 = e.sha1 ?? createHash('sha1').update(e.linkname).digest('hex');
        rec.mode = 0o777;
        break;
      case 'link': {
        checkEntryName(pkg, e.linkname);
        const target = regular.get(e.linkname);
        if (!target)
          unsafe(
            pkg,
            e.name,
            `is a hard link to "${e.linkname}", which is not an earlier file of the package`,
          );
        if (existing) await rm(abs);
        await link(join(dest, e.linkname), abs);
        if (target.sha1) rec.sha1 = target.sha1;
        rec.type = 'file';
        break;
      }
      case 'file': {
        if (existing) await rm(abs, { recursive: true });
        const h = createHash('sha1');
        const out = createWriteStream(abs, { mode: e.mode & 0o777 });
        await pipeline(
          (async function* () {
            for await (const c of content) {
              h.update(c);
              yield c;
            }
          })(),
          out,
        );
        const sum = h.digest('hex');
        if (e.sha1 && e.sha1 !== sum) {
          throw new ApkError(
            'file-checksum-mismatch',
            `${pkg}: ${e.name}: content SHA-1 ${sum} ≠ recorded ${e.sha1}`,
            {
              pkg,
              entry: e.name,
            },
          );
        }
        rec.sha1 = sum;
        await chmod(abs, e.mode);
        regular.set(e.name, rec);
        break;
      }
    }
    if (isRoot()) await lchown(abs, e.uid, e.gid);
    if (e.type === 'symlink') await lutimes(abs, e.mtime, e.mtime);
    else if (e.type !== 'directory') await utimes(abs, e.mtime, e.mtime);
    files.push(rec);
  });
  for (const d of dirs.reverse()) await utimes(d.abs, d.mtime, d.mtime);
  return files;
}
