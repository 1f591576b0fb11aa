/**
 * Which buildkitd an arch builds on, the same for every command that talks to one: a
 * `--buildkit-addr ARCH=ADDR` for that arch, then a bare `--buildkit-addr ADDR`, then
 * `$BUILDKIT_ADDR_<ARCH>`, then `$BUILDKIT_HOST` (buildctl's variable).
 */
import { readFileSync } from 'node:fs';
import type { TlsOptions } from '@melange2/buildkit';
import { CliError, EXIT } from '../exit-codes.js';
import { type Arch, archOf } from './arch.js';
import { type FlagSet, type FlagValues, flagError } from './define.js';
import { FLAGS } from './table.js';

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

/** TLS to buildkitd, with buildctl's flag names: the same for every daemon the command uses. */
export const BUILDKIT_TLS_FLAGS = {
  buildkitTlscacert: FLAGS.buildkitTlscacert,
  buildkitTlscert: FLAGS.buildkitTlscert,
  buildkitTlskey: FLAGS.buildkitTlskey,
  buildkitTlsservername: FLAGS.buildkitTlsservername,
} satisfies FlagSet;

function pemFile(flag: string, path: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw flagError(flag, `${path}: ${why}`);
  }
  if (!data.includes('-----BEGIN')) throw flagError(flag, `${path}: not a PEM file`);
  return data;
}

/**
 * The TLS material the flags name, read and checked now (a missing or non-PEM file is a usage
 * error naming its flag), or undefined when no TLS flag is given.
 */
export function buildkitTls(flags: FlagValues<typeof BUILDKIT_TLS_FLAGS>): TlsOptions | undefined {
  const { buildkitTlscacert: ca, buildkitTlscert: cert, buildkitTlskey: key } = flags;
  const name = flags.buildkitTlsservername;
  if (cert && !key) throw flagError('--buildkit-tlscert', 'needs --buildkit-tlskey');
  if (key && !cert) throw flagError('--buildkit-tlskey', 'needs --buildkit-tlscert');
  if (!ca && !cert && !name) return undefined;
  return {
    ...(ca ? { ca: pemFile('--buildkit-tlscacert', ca) } : {}),
    ...(cert && key
      ? { cert: pemFile('--buildkit-tlscert', cert), key: pemFile('--buildkit-tlskey', key) }
      : {}),
    ...(name ? { serverName: name } : {}),
  };
}

/** A daemon on this machine: a unix socket, or TCP to a loopback address. */
function isLocalDaemon(addr: string): boolean {
  if (addr.startsWith('unix://')) return true;
  const host = /^tcp:\/\/(\[[^\]]+\]|[^:/]+)/.exec(addr)?.[1];
  return host === 'localhost' || host === '[::1]' || (host?.startsWith('127.') ?? false);
}

/**
 * Where the environment's packages are served from (see `--serve-layers`): the host given, or
 * 127.0.0.1 when every daemon is on this machine (it reaches that address, and a package it has
 * seen is then never sent again); none with "off" or a remote daemon (directories are synced).
 */
export function layerServerHost(flag: string | undefined, daemons: readonly string[]): string | undefined {
  if (flag === 'off') return undefined;
  if (flag) return flag;
  return daemons.length > 0 && daemons.every(isLocalDaemon) ? '127.0.0.1' : undefined;
}
