/**
 * Which buildkitd an arch builds on, the same for every command that talks to one: a
 * `--buildkit-addr ARCH=ADDR` for that arch, then a bare `--buildkit-addr ADDR`, then
 * `$BUILDKIT_ADDR_<ARCH>`, then `$BUILDKIT_HOST` (buildctl's variable).
 */
import { CliError, EXIT } from '../exit-codes.js';
import { type Arch, archOf } from './arch.js';

export interface BuildkitAddresses {
  /** The address for `arch`, or undefined when neither the flags nor the environment name one. */
  readonly of: (arch: Arch) => string | undefined;
}

export function buildkitAddresses(flags: readonly string[] | undefined): BuildkitAddresses {
  const perArch = new Map<Arch, string>();
  let all: string | undefined;
  for (const f of flags ?? []) {
    const m = /^([a-z0-9_]+)=(.+)$/.exec(f);
    if (!m) {
      all = f;
      continue;
    }
    const arch = archOf(m[1]!);
    if (!arch)
      throw new CliError(
        `--buildkit-addr: unknown architecture "${m[1]}" in "${f}" (give ADDR, or ARCH=ADDR with ARCH x86_64 or aarch64)`,
        EXIT.usage,
      );
    perArch.set(arch, m[2]!);
  }
  const env = (k: string) => process.env[k] || undefined;
  return {
    of: (arch) =>
      perArch.get(arch) ?? all ?? env(`BUILDKIT_ADDR_${arch.toUpperCase()}`) ?? env('BUILDKIT_HOST'),
  };
}

/** The address for `arch`, or an environment error that says how to give one. */
export function requireBuildkit(addrs: BuildkitAddresses, arch: Arch): string {
  const a = addrs.of(arch);
  if (a) return a;
  throw new CliError(
    `no buildkitd for ${arch}: give --buildkit-addr ${arch}=ADDR, or set BUILDKIT_ADDR_${arch.toUpperCase()} or BUILDKIT_HOST (\`melange2-orch daemons up\` starts one)`,
    EXIT.environment,
  );
}
