/**
 * The second layer of the daemons image, which the test harness runs buildkitd and nats-server
 * from when a Docker-compatible engine is at hand (test/harness/src/containers.ts): this
 * machine's own buildkitd, buildctl and nats-server (scripts/setup builds them into the tools
 * dir) and runc with the libseccomp it links. Built for the machine's own arch only.
 */
import { chmod, copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findTool } from '@melange2/daemons';
import { CliError, EXIT } from '../exit-codes.js';
import type { Arch } from '../flags/arch.js';
import { normalizeDirs } from './runtime.js';

const HOST_ARCH: Partial<Record<NodeJS.Architecture, Arch>> = { x64: 'x86_64', arm64: 'aarch64' };

/** The library Debian's runc links besides libc (`ldd /usr/sbin/runc`). */
const RUNC_LIBS: Readonly<Record<Arch, string>> = {
  x86_64: '/lib/x86_64-linux-gnu/libseccomp.so.2',
  aarch64: '/lib/aarch64-linux-gnu/libseccomp.so.2',
};

/** The daemons image holds this machine's binaries: it can only be for this machine's arch. */
export function checkDaemonsArch(arch: Arch): void {
  if (HOST_ARCH[process.arch] !== arch)
    throw new CliError(
      `--image daemons: it holds this machine's own tools, so only for ${HOST_ARCH[process.arch] ?? process.arch} (not ${arch})`,
      EXIT.usage,
    );
}

export async function stageDaemons(arch: Arch, dest: string): Promise<void> {
  checkDaemonsArch(arch);
  await mkdir(join(dest, 'usr/local/bin'), { recursive: true });
  for (const tool of ['buildkitd', 'buildctl', 'nats-server', 'runc'] as const) {
    await copyFile(findTool(tool), join(dest, 'usr/local/bin', tool));
    await chmod(join(dest, 'usr/local/bin', tool), 0o755);
  }
  const lib = RUNC_LIBS[arch];
  await mkdir(join(dest, lib, '..'), { recursive: true });
  // The library itself, not the symlink to it: the image has no other copy.
  await copyFile(lib, join(dest, lib));
  await chmod(join(dest, lib), 0o644);
  if ((await readFile(join(dest, lib))).subarray(0, 4).toString('latin1') !== '\x7fELF')
    throw new CliError(`${lib} is not a shared library (install runc with scripts/setup)`, EXIT.environment);
  await normalizeDirs(dest);
}
