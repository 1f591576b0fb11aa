import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  addToIndexFile,
  loadSigningKey,
  packApk,
  packageInfo,
  type SigningKey,
  writeKeyPair,
} from '@melange2/apk';
import { toolsDir } from '@melange2/daemons';

/** Where each arch's static busybox comes from (scripts/setup installs the arm64 one). */
function busyboxFor(arch: 'x86_64' | 'aarch64'): string {
  if (arch === 'x86_64') return '/bin/busybox';
  const tools = toolsDir(join(import.meta.dirname, '..', '..', '..', '..'));
  const p = tools ? join(tools, 'arm64', 'busybox') : '';
  if (!p || !existsSync(p))
    throw new Error(`no arm64 busybox at ${p || '<tools dir>/arm64/busybox'}: run scripts/setup`);
  return p;
}

const BUSYBOX_VERSION = '1.35.0-r0';

/** The applets as `--list-full` prints them (`usr/bin/awk`); qemu binfmt runs the arm64 binary too. */
function applets(bin: string): string[] {
  let out: string;
  try {
    out = execFileSync(bin, ['--list-full'], { encoding: 'utf8' });
  } catch {
    out = execFileSync('/bin/busybox', ['--list-full'], { encoding: 'utf8' });
  }
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.includes('['));
}

/** Packs busybox for one arch in the `busybox --install` layout, providing `cmd:` for every applet. */
async function packBusybox(arch: 'x86_64' | 'aarch64', repo: string, key: SigningKey): Promise<string> {
  const bin = busyboxFor(arch);
  const tree = await mkdtemp(join(tmpdir(), `m2-busybox-${arch}-`));
  try {
    mkdirSync(join(tree, 'bin'), { recursive: true });
    copyFileSync(bin, join(tree, 'bin', 'busybox'));
    const names = applets(bin);
    for (const rel of names) {
      mkdirSync(join(tree, dirname(rel)), { recursive: true });
      if (!existsSync(join(tree, rel))) symlinkSync('/bin/busybox', join(tree, rel));
    }
    const provides = [...new Set(names.map((r) => r.slice(r.lastIndexOf('/') + 1)))]
      .sort()
      .map((n) => `cmd:${n}=${BUSYBOX_VERSION}`);
    const out = join(repo, arch, `busybox-${BUSYBOX_VERSION}.apk`);
    await packApk({
      dir: tree,
      info: packageInfo({
        name: 'busybox',
        version: BUSYBOX_VERSION,
        arch,
        description: "Debian's static busybox (test bootstrap)",
        license: 'GPL-2.0-only',
        provides,
      }),
      signingKey: key,
      sourceDateEpoch: 0,
      output: out,
    });
    await addToIndexFile(join(repo, arch, 'APKINDEX.tar.gz'), [out], { signingKey: key });
    return out;
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
}

export interface Bootstrap {
  readonly dir: string;
  /** The bootstrap repository: `<repo>/<arch>/APKINDEX.tar.gz` with busybox. */
  readonly repo: string;
  readonly keyPath: string;
  readonly publicKeyPath: string;
  readonly signingKey: SigningKey;
  /** A package cache shared by the tests (extracted trees reused). */
  readonly cacheDir: string;
}

/** A throwaway signing key and a signed busybox repository for both arches. */
export async function bootstrap(): Promise<Bootstrap> {
  const dir = await mkdtemp(join(tmpdir(), 'm2-engine-build-'));
  const { privatePath, publicPath } = await writeKeyPair(dir, 'melange', { bits: 2048 });
  const signingKey = loadSigningKey(privatePath);
  const repo = join(dir, 'bootstrap');
  await packBusybox('x86_64', repo, signingKey);
  await packBusybox('aarch64', repo, signingKey);
  return {
    dir,
    repo,
    keyPath: privatePath,
    publicKeyPath: publicPath,
    signingKey,
    cacheDir: join(dir, 'cache'),
  };
}

/**
 * A usrmerge repository: `layout` makes `bin` and `sbin` symlinks into `usr/`, and
 * `busybox-usrmerge` (depending on it) ships its files under `bin/`, as packages built before the
 * merge do. apk writes them through the links; so must the environment's layers.
 */
export async function packUsrmerge(arch: 'x86_64' | 'aarch64', repo: string, key: SigningKey): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), `m2-usrmerge-${arch}-`));
  try {
    const layout = join(root, 'layout');
    mkdirSync(join(layout, 'usr', 'bin'), { recursive: true });
    mkdirSync(join(layout, 'usr', 'sbin'), { recursive: true });
    symlinkSync('usr/bin', join(layout, 'bin'));
    symlinkSync('usr/sbin', join(layout, 'sbin'));
    const bb = join(root, 'busybox');
    mkdirSync(join(bb, 'bin'), { recursive: true });
    copyFileSync(busyboxFor(arch), join(bb, 'bin', 'busybox'));
    const names = [...new Set(applets(busyboxFor(arch)).map((r) => r.slice(r.lastIndexOf('/') + 1)))];
    for (const n of names) if (n !== 'busybox') symlinkSync('/bin/busybox', join(bb, 'bin', n));
    const apks = [
      await packApk({
        dir: layout,
        info: packageInfo({ name: 'layout', version: '1-r0', arch, description: 'usrmerge layout' }),
        signingKey: key,
        sourceDateEpoch: 0,
        output: join(repo, arch, 'layout-1-r0.apk'),
      }),
      await packApk({
        dir: bb,
        info: packageInfo({
          name: 'busybox-usrmerge',
          version: BUSYBOX_VERSION,
          arch,
          depends: ['layout'],
          provides: names.map((n) => `cmd:${n}=${BUSYBOX_VERSION}`),
        }),
        signingKey: key,
        sourceDateEpoch: 0,
        output: join(repo, arch, `busybox-usrmerge-${BUSYBOX_VERSION}.apk`),
      }),
    ];
    await addToIndexFile(
      join(repo, arch, 'APKINDEX.tar.gz'),
      apks.map((a) => a.path),
      { signingKey: key },
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

interface HostPackage {
  readonly name: string;
  readonly version: string;
  readonly description: string;
  /** Host executables, copied with the libraries `ldd` names for them (at the same paths). */
  readonly binaries: readonly { readonly from: string; readonly to: string }[];
  readonly symlinks?: readonly { readonly path: string; readonly target: string }[];
  readonly depends?: readonly string[];
  readonly provides?: readonly string[];
  /** Plain files: path → contents. */
  readonly files?: Readonly<Record<string, string>>;
}

/** Packs host executables (and their libraries) as one x86_64 package into `repo`. x86_64 hosts only. */
async function packHost(repo: string, key: SigningKey, p: HostPackage): Promise<void> {
  const tree = await mkdtemp(join(tmpdir(), `m2-${p.name}-`));
  try {
    const put = (from: string, to: string) => {
      mkdirSync(join(tree, dirname(to)), { recursive: true });
      if (!existsSync(join(tree, to))) copyFileSync(realpathSync(from), join(tree, to));
    };
    for (const b of p.binaries) {
      put(b.from, b.to);
      const libs = execFileSync('ldd', [b.from], { encoding: 'utf8' });
      for (const m of libs.matchAll(/(\/\S+)\s+\(0x/g)) put(m[1]!, m[1]!.slice(1));
    }
    for (const [path, text] of Object.entries(p.files ?? {})) {
      mkdirSync(join(tree, dirname(path)), { recursive: true });
      writeFileSync(join(tree, path), text);
    }
    for (const l of p.symlinks ?? []) {
      mkdirSync(join(tree, dirname(l.path)), { recursive: true });
      symlinkSync(l.target, join(tree, l.path));
    }
    const out = join(repo, 'x86_64', `${p.name}-${p.version}.apk`);
    await packApk({
      dir: tree,
      info: packageInfo({
        name: p.name,
        version: p.version,
        arch: 'x86_64',
        description: p.description,
        ...(p.depends ? { depends: [...p.depends] } : {}),
        ...(p.provides ? { provides: [...p.provides] } : {}),
      }),
      signingKey: key,
      sourceDateEpoch: 0,
      output: out,
    });
    await addToIndexFile(join(repo, 'x86_64', 'APKINDEX.tar.gz'), [out], { signingKey: key });
  } finally {
    await rm(tree, { recursive: true, force: true });
  }
}

/**
 * Debian's dash (no `set -o pipefail` before 0.5.13) as a package `dash-sh` owning `/bin/sh`,
 * with the host libraries it loads: the shell of a Debian-made toolchain.
 */
export async function packDash(repo: string, key: SigningKey): Promise<void> {
  await packHost(repo, key, {
    name: 'dash-sh',
    version: '0.5.12-r0',
    description: "Debian's dash as /bin/sh",
    binaries: [{ from: '/usr/bin/dash', to: 'usr/bin/dash' }],
    symlinks: [{ path: 'bin/sh', target: '/usr/bin/dash' }],
  });
}

/**
 * A stand-in providing `realthing` without a version (as the real toolchain's bundle provides the
 * names it stands in for) and the real `realthing`, both shipping usr/share/standin/which.
 */
export async function packStandIn(repo: string, key: SigningKey): Promise<void> {
  await packHost(repo, key, {
    name: 'standin',
    version: '1-r0',
    description: 'stands in for realthing',
    binaries: [],
    provides: ['realthing'],
    files: { 'usr/share/standin/which': 'stand-in\n', 'usr/share/standin/only-standin': 'kept\n' },
  });
  await packHost(repo, key, {
    name: 'realthing',
    version: '2-r0',
    description: 'the real package',
    binaries: [],
    files: { 'usr/share/standin/which': 'real\n' },
  });
}

/**
 * Names built-in pipelines need (`wolfi-base` for python/import, `patch`), each an empty package
 * depending on busybox, whose applets do the work.
 */
export async function packBusyboxNames(
  repo: string,
  key: SigningKey,
  names: readonly string[],
): Promise<void> {
  for (const name of names)
    await packHost(repo, key, {
      name,
      version: '1-r0',
      description: `${name}, here busybox`,
      binaries: [],
      depends: ['busybox'],
    });
}

/**
 * The host's git (enough to clone from a local repository: git and git-upload-pack), and `wget`
 * as a name busybox satisfies: what the built-in git-checkout and fetch pipelines need.
 */
export async function packGitAndWget(repo: string, key: SigningKey): Promise<void> {
  await packHost(repo, key, {
    name: 'git',
    version: '2.39.0-r0',
    description: "the host's git",
    binaries: [{ from: '/usr/bin/git', to: 'usr/bin/git' }],
    symlinks: [
      { path: 'usr/lib/git-core/git-upload-pack', target: '/usr/bin/git' },
      { path: 'usr/lib/git-core/git', target: '/usr/bin/git' },
    ],
    depends: ['busybox'],
  });
  await packHost(repo, key, {
    name: 'wget',
    version: '1.35.0-r0',
    description: "busybox's wget, by the name the fetch pipeline needs",
    binaries: [],
    depends: ['busybox'],
  });
}
