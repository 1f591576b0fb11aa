/** The architectures melange2-orch builds for, by their apk names, and their OCI platforms. */
export const ARCH_PLATFORMS = { x86_64: 'linux/amd64', aarch64: 'linux/arm64' } as const;
export type Arch = keyof typeof ARCH_PLATFORMS;
export type Platform = (typeof ARCH_PLATFORMS)[Arch];
export const ARCHES = Object.keys(ARCH_PLATFORMS) as Arch[];

export function archOfPlatform(p: Platform): Arch {
  return p === 'linux/amd64' ? 'x86_64' : 'aarch64';
}
