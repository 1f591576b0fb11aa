/** A target platform, as BuildKit's `pb.Platform` (`linux/arm64/v8`). */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** Groups vertices in progress output (BuildKit `pb.ProgressGroup`). */
export interface ProgressGroup {
  readonly id: string;
  readonly name: string;
  readonly weak?: boolean;
}

/** Options every op accepts, like Go's `llb.ConstraintsOpt`. */
export interface OpOptions {
  /** Platform of this op; defaults to the state's, then to `marshal(…, {platform})`, then the daemon's. */
  readonly platform?: Platform;
  /** Vertex name shown in progress (`llb.customname`). */
  readonly customName?: string;
  readonly progressGroup?: ProgressGroup;
  /** Re-run this op even when a cache record exists. */
  readonly ignoreCache?: boolean;
  /** Extra free-form description entries (keys like `com.example.step`). */
  readonly description?: Readonly<Record<string, string>>;
}

/** `linux/arm64/v8` → Platform; also accepts `arm64` (os defaults to linux) and `x86_64`/`aarch64`. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/').filter((p) => p !== '');
  if (parts.length === 0 || parts.length > 3) {
    throw new Error(`invalid platform ${JSON.stringify(s)}: expected os/arch[/variant], e.g. linux/arm64`);
  }
  const [os, arch, variant] = parts.length === 1 ? ['linux', parts[0], undefined] : parts;
  const architecture = normalizeArch(arch ?? '');
  return variant ? { os: os ?? 'linux', architecture, variant } : { os: os ?? 'linux', architecture };
}

const ARCH_ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  aarch64: 'arm64',
  armhf: 'arm',
  i386: '386',
  i686: '386',
};

export function normalizeArch(arch: string): string {
  return ARCH_ALIASES[arch] ?? arch;
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}
