import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, inject } from 'vitest';
import { BuildkitClient, llb, type Platform, type State } from '@melange2/buildkit';

const daemons = inject('daemons');
export type Arch = 'x86_64' | 'aarch64';
export const PLATFORM: Record<Arch, Platform> = {
  x86_64: { os: 'linux', architecture: 'amd64' },
  aarch64: { os: 'linux', architecture: 'arm64' },
};

const toolsDir =
  process.env['MELANGE2_TOOLS_DIR'] ?? fileURLToPath(new URL('../../../.tools', import.meta.url));

function busybox(arch: Arch): string {
  const p = arch === 'x86_64' ? '/bin/busybox' : join(toolsDir, 'arm64', 'busybox');
  if (!existsSync(p)) throw new Error(`static busybox for ${arch} not found at ${p}`);
  return p;
}

/** A unique token per test run, so shared daemons' caches never satisfy a step meant to run. */
export const nonce = randomBytes(6).toString('hex');

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

export async function tempDir(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `m2-bk-${prefix}-`));
  dirs.push(d);
  return d;
}

const APPLETS = [
  'sh',
  'cat',
  'echo',
  'uname',
  'sleep',
  'mkdir',
  'ls',
  'sha256sum',
  'seq',
  'touch',
  'cp',
  'date',
  'rm',
];

/** A directory holding a minimal busybox rootfs (`/bin/busybox` + applet symlinks). */
export async function busyboxRootDir(arch: Arch): Promise<string> {
  const d = await tempDir(`rootfs-${arch}`);
  await mkdir(join(d, 'bin'));
  await copyFile(busybox(arch), join(d, 'bin', 'busybox'));
  await Promise.all(APPLETS.map((a) => symlink('busybox', join(d, 'bin', a))));
  return d;
}

/** The rootfs local dir copied into scratch (content-hashed, so it caches across sessions). */
export function rootfs(arch: Arch, name = 'rootfs'): State {
  return llb
    .scratch()
    .platform(PLATFORM[arch])
    .file(llb.copy(llb.local(name), '/', '/', { copyDirContentsOnly: true }), {
      customName: `rootfs ${arch}`,
    });
}

export function sh(script: string): string[] {
  return ['/bin/sh', '-c', script];
}

const clients = new Map<Arch, Promise<BuildkitClient>>();
afterAll(async () => {
  for (const c of clients.values()) (await c).close();
});

export function client(arch: Arch): Promise<BuildkitClient> {
  let c = clients.get(arch);
  if (!c) {
    c = BuildkitClient.connect(daemons.buildkit[arch]);
    clients.set(arch, c);
  }
  return c;
}
