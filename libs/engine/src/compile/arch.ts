/** An apk architecture the engine can compile for, with what melange derives from it. */
export interface ArchInfo {
  /** apk name (`build.arch`). */
  readonly apk: string;
  /** Go/OCI name (`build.goarch`). */
  readonly go: string;
  /** GNU triplet prefix (`<prefix>-<libc>`). */
  readonly gnu: string;
  /** Rust triplet prefix. */
  readonly rust: string;
}

const ARCHES: readonly ArchInfo[] = [
  { apk: 'x86_64', go: 'amd64', gnu: 'x86_64-pc-linux', rust: 'x86_64-unknown-linux' },
  { apk: 'aarch64', go: 'arm64', gnu: 'aarch64-unknown-linux', rust: 'aarch64-unknown-linux' },
];

export const SUPPORTED_ARCHES: readonly string[] = ARCHES.map((a) => a.apk);

export class UnknownArchError extends Error {
  override readonly name = 'UnknownArchError';
  constructor(readonly arch: string) {
    super(`unknown architecture "${arch}" (expected one of: ${SUPPORTED_ARCHES.join(', ')})`);
  }
}

/** Accepts apk names (x86_64, aarch64) and Go names (amd64, arm64). */
export function archInfo(arch: string): ArchInfo {
  const a = ARCHES.find((x) => x.apk === arch || x.go === arch);
  if (!a) throw new UnknownArchError(arch);
  return a;
}
