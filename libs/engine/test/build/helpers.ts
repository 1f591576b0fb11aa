import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
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
import { toolsDir } from '@melange2/daemons';
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

/** The text of one data entry of an .apk, or undefined when it has none. */
export async function apkText(file: string, path: string): Promise<string | undefined> {
  const head = await readApkHead(file);
  let text: string | undefined;
  await readApkData(head, async (e, content) => {
    const chunks: Buffer[] = [];
    for await (const c of content) chunks.push(c as Buffer);
    if (e.name === path) text = Buffer.concat(chunks).toString('utf8');
  });
  return text;
}

/** A member of an .apk's control section (`.PKGINFO`, `.melange.yaml`, …), read from its tar. */
export async function controlText(file: string, name: string): Promise<string | undefined> {
  const tar = gunzipSync((await readApkHead(file)).controlMember);
  for (let off = 0; off + 512 <= tar.length; ) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const entry = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = Number.parseInt(
      h.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim() || '0',
      8,
    );
    if (entry === name) return tar.subarray(off + 512, off + 512 + size).toString('utf8');
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return undefined;
}

/** PyPI's SPDX validator as scripts/setup installs it, or undefined (tests then skip, saying so). */
export function spdxValidator(): string | undefined {
  const tools = toolsDir(join(import.meta.dirname, '..', '..', '..', '..'));
  const bin = tools ? join(tools, 'spdx-tools', 'bin', 'pyspdxtools') : undefined;
  return bin && existsSync(bin) ? bin : undefined;
}

/** Validates an SPDX document with pyspdxtools; throws with its output when invalid. */
export function validateSpdx(bin: string, doc: string, dir: string): void {
  const f = join(dir, `sbom-${Math.random().toString(36).slice(2)}.spdx.json`);
  writeFileSync(f, doc);
  execFileSync(bin, ['-i', f], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
