/**
 * The one arch table of the repository: the apk architectures melange2-orch builds for, their
 * aliases (Go/OCI names) and what melange derives from each. libs/buildkit and libs/apk know
 * nothing of melange and keep their own platform strings.
 */

/** An apk architecture name as apk, melange and the APKINDEX spell it. */
export type Arch = 'x86_64' | 'aarch64';

/** What melange derives from an arch. */
export interface ArchInfo {
  /** apk name (`build.arch`). */
  readonly apk: Arch;
  /** Go/OCI name (`build.goarch`), also accepted as an alias. */
  readonly go: string;
  /** GNU triplet prefix (`<prefix>-<libc>`). */
  readonly gnu: string;
  /** Rust triplet prefix. */
  readonly rust: string;
}

const TABLE: readonly ArchInfo[] = [
  { apk: 'x86_64', go: 'amd64', gnu: 'x86_64-pc-linux', rust: 'x86_64-unknown-linux' },
  { apk: 'aarch64', go: 'arm64', gnu: 'aarch64-unknown-linux', rust: 'aarch64-unknown-linux' },
];

export const ARCHES: readonly Arch[] = TABLE.map((a) => a.apk);
/** The other spellings accepted for an arch (Go/OCI names). */
export const ARCH_ALIASES: readonly string[] = TABLE.map((a) => a.go);

class UnknownArchError extends Error {
  override readonly name = 'UnknownArchError';
  readonly code = 'UNKNOWN_ARCH';
  constructor(readonly arch: string) {
    super(
      `unknown architecture "${arch}" (expected one of: ${ARCHES.join(', ')}, or ${ARCH_ALIASES.join(', ')})`,
    );
  }
}

/** An apk name (x86_64, aarch64) or Go name (amd64, arm64); undefined for anything else. */
export function findArch(arch: string): ArchInfo | undefined {
  return TABLE.find((x) => x.apk === arch || x.go === arch);
}

/** As {@link findArch}, but an unknown name throws {@link UnknownArchError}. */
export function archInfo(arch: string): ArchInfo {
  const a = findArch(arch);
  if (!a) throw new UnknownArchError(arch);
  return a;
}
