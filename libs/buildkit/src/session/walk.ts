import type { BigIntStats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { GoMode, goMode } from './fsmode.js';
import { PatternMatcher } from './patterns.js';
import type { Stat } from './wire.js';

export interface WalkOptions {
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  /** Paths whose symlinks are followed: the link and its target are both sent. */
  readonly followPaths?: readonly string[];
}

export interface WalkEntry {
  readonly rel: string;
  readonly abs: string;
  readonly stat: Stat;
}

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function major(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}

function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
}

async function toStat(rel: string, abs: string, st: BigIntStats): Promise<Stat> {
  const mode = goMode(st);
  const s: Stat = {
    path: rel,
    mode,
    // uid/gid enter the daemon's content checksum; Go's client resets them to 0 as well.
    uid: 0,
    gid: 0,
    size: 0,
    modTime: st.mtimeNs,
    linkname: '',
    devmajor: 0,
    devminor: 0,
    xattrs: {},
  };
  if ((mode & GoMode.Type) === 0) s.size = Number(st.size);
  if (mode & GoMode.Symlink) s.linkname = await readlink(abs);
  if (mode & GoMode.Device) {
    const rdev = Number(st.rdev);
    s.devmajor = major(rdev);
    s.devminor = minor(rdev);
  }
  return s;
}

/**
 * Walks `root` in the order fsutil's receiver requires: depth-first, pre-order, siblings sorted
 * bytewise by name (not by full path: `a.b` sorts before `a/x` only if compared per element).
 * Parent directories of included entries are sent even when they do not match themselves.
 */
export async function* walk(root: string, opts: WalkOptions = {}): AsyncGenerator<WalkEntry> {
  const include = new PatternMatcher([
    ...(opts.include ?? []),
    ...(opts.include?.length ? (opts.followPaths ?? []) : []),
  ]);
  const exclude = new PatternMatcher(opts.exclude ?? []);
  const pending: WalkEntry[] = [];

  async function* dir(absDir: string, relDir: string, included: boolean): AsyncGenerator<WalkEntry> {
    let names: string[];
    try {
      names = (await readdir(absDir)).sort(byBytes);
    } catch (e) {
      throw new Error(`cannot read directory ${absDir}: ${(e as Error).message}`, { cause: e });
    }
    const stats = await Promise.all(
      names.map(async (n) => {
        const abs = join(absDir, n);
        try {
          return await lstat(abs, { bigint: true });
        } catch (e) {
          throw new Error(`cannot stat ${abs}: ${(e as Error).message}`, { cause: e });
        }
      }),
    );
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      const st = stats[i] as BigIntStats;
      if (st.isSocket()) continue;
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const abs = join(absDir, name);
      const excluded = !exclude.empty && exclude.matches(rel);
      const inc = included || include.empty || include.matches(rel);
      const entry: WalkEntry = { rel, abs, stat: await toStat(rel, abs, st) };
      if (st.isDirectory()) {
        if (excluded && !exclude.hasNegations) continue;
        const emitNow = inc && !excluded;
        if (emitNow) {
          yield* flush();
          yield entry;
        } else {
          pending.push(entry);
        }
        // Nothing below a directory that no include pattern can reach is sent: skip the subtree
        // (a cache directory of thousands of files with one included entry walks in microseconds).
        if (inc || include.mayMatchBelow(rel)) yield* dir(abs, rel, inc && !include.empty);
        if (!emitNow && pending[pending.length - 1] === entry) pending.pop();
      } else if (inc && !excluded) {
        yield* flush();
        yield entry;
      }
    }
  }

  function* flush(): Generator<WalkEntry> {
    for (const p of pending) yield p;
    pending.length = 0;
  }

  const st = await lstat(root, { bigint: true }).catch((e: unknown) => {
    throw new Error(`cannot read local directory ${root}: ${(e as Error).message}`, { cause: e });
  });
  if (!st.isDirectory()) throw new Error(`local directory ${root} is not a directory`);
  yield* dir(root, '', false);
}
