import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type IndexEntry,
  installPackages,
  Keyring,
  loadRepository,
  readApkData,
  readApkHead,
  resolveWorld,
} from '@melange2/apk';
import type { BuildkitClient } from '@melange2/buildkit';
import { EM_AARCH64, EM_X86_64, tinyElf } from './elf-fixture.js';

const TESTDATA = join(import.meta.dirname, '..', '..', '..', '..', 'testdata', 'engine-build');
export const config = (name: string) => join(TESTDATA, `${name}.yaml`);

/** Installs a world from repositories into a fresh root with libs/apk (as a user's apk would). */
export async function installInto(
  root: string,
  world: readonly string[],
  arch: string,
  repos: readonly string[],
  publicKey: string,
  cacheDir: string,
): Promise<IndexEntry[]> {
  const keyring = Keyring.load([publicKey]);
  const specs = repos.map((url) => ({ url }));
  const loaded = await Promise.all(specs.map((s) => loadRepository(s, arch, { keyring })));
  const { packages } = resolveWorld({ repositories: loaded, world, arch });
  await installPackages({ packages, repositories: specs, arch, world, cacheDir, keyring, root });
  return packages.map((p) => p.entry);
}

/** Every data entry of an .apk: name, uid/gid, mtime, mode. */
export async function apkEntries(
  file: string,
): Promise<{ name: string; uid: number; gid: number; mtime: number; type: string }[]> {
  const head = await readApkHead(file);
  const out: { name: string; uid: number; gid: number; mtime: number; type: string }[] = [];
  await readApkData(head, async (e, content) => {
    for await (const _ of content);
    out.push({ name: e.name, uid: e.uid, gid: e.gid, mtime: e.mtime, type: e.type });
  });
  return out;
}

/** The source tree of libmarker for one arch: the shared library and its consumer as tiny ELFs. */
export function libmarkerSource(dir: string, arch: 'x86_64' | 'aarch64'): string {
  const machine = arch === 'x86_64' ? EM_X86_64 : EM_AARCH64;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'libmarker.so.1.2.3'), tinyElf({ machine, soname: 'libmarker.so.1' }));
  writeFileSync(join(dir, 'consumer'), tinyElf({ machine, type: 2, needed: ['libmarker.so.1'] }), {
    mode: 0o755,
  });
  return dir;
}

/** A client whose solve is counted, to prove a failure happened before BuildKit was called. */
export function countingClient(client: BuildkitClient): { client: BuildkitClient; calls: () => number } {
  let n = 0;
  const wrapped = Object.create(client) as BuildkitClient;
  Object.defineProperty(wrapped, 'solve', {
    value: (...args: Parameters<BuildkitClient['solve']>) => {
      n++;
      return client.solve(...args);
    },
  });
  return { client: wrapped, calls: () => n };
}
