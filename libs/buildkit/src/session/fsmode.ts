import type { BigIntStats, Stats } from 'node:fs';

/** Go `os.FileMode` type bits (fsutil sends these, not unix st_mode). */
export const GoMode = {
  Dir: 0x80000000,
  Symlink: 0x08000000,
  Device: 0x04000000,
  NamedPipe: 0x02000000,
  Socket: 0x01000000,
  Setuid: 0x00800000,
  Setgid: 0x00400000,
  CharDevice: 0x00200000,
  Sticky: 0x00100000,
  Irregular: 0x00080000,
  /** Mask of all type bits; a regular file has none. */
  Type: 0x8f280000,
} as const;

const S_IFMT = 0o170000;

/** unix st_mode → Go os.FileMode. */
export function goModeFromUnix(mode: number): number {
  let g = mode & 0o777;
  switch (mode & S_IFMT) {
    case 0o040000:
      g |= GoMode.Dir;
      break;
    case 0o120000:
      g |= GoMode.Symlink;
      break;
    case 0o060000:
      g |= GoMode.Device;
      break;
    case 0o020000:
      g |= GoMode.Device | GoMode.CharDevice;
      break;
    case 0o010000:
      g |= GoMode.NamedPipe;
      break;
    case 0o140000:
      g |= GoMode.Socket;
      break;
  }
  if (mode & 0o4000) g |= GoMode.Setuid;
  if (mode & 0o2000) g |= GoMode.Setgid;
  if (mode & 0o1000) g |= GoMode.Sticky;
  return g >>> 0;
}

export function goMode(st: Stats | BigIntStats): number {
  return goModeFromUnix(Number(st.mode));
}

/** Go os.FileMode → the permission bits chmod takes (including setuid/setgid/sticky). */
export function unixPerm(goMode: number): number {
  let p = goMode & 0o777;
  if (goMode & GoMode.Setuid) p |= 0o4000;
  if (goMode & GoMode.Setgid) p |= 0o2000;
  if (goMode & GoMode.Sticky) p |= 0o1000;
  return p;
}

export type EntryKind = 'dir' | 'symlink' | 'file' | 'device' | 'fifo' | 'socket' | 'other';

export function kindOf(goMode: number): EntryKind {
  if (goMode & GoMode.Dir) return 'dir';
  if (goMode & GoMode.Symlink) return 'symlink';
  if (goMode & GoMode.Device) return 'device';
  if (goMode & GoMode.NamedPipe) return 'fifo';
  if (goMode & GoMode.Socket) return 'socket';
  if ((goMode & GoMode.Type) === 0) return 'file';
  return 'other';
}
