import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { CachedPackage } from '@melange2/apk';
import { type LocalDir, llb, type State } from '@melange2/buildkit';
import { WORKSPACE } from '@melange2/melange';
import type { Group, User } from '@melange2/melange';
import { isErrnoCode } from '../errno.js';
import { BUILD_UID } from '../llb/graph.js';
import type { GeneratedFile, ResolvedEnvironment } from './resolve.js';
import type { ServedPackage } from './serve.js';

/** The local source name of one package's extracted tree: its identity, so it is stable across builds. */
export function packageLocalName(p: CachedPackage): string {
  return `apk-${Buffer.from(p.entry.checksum.slice(2), 'base64').toString('hex')}`;
}

interface Account {
  readonly name: string;
  readonly id: number;
  readonly line: string;
}

function parseDb(text: string): Account[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .map((line) => {
      const f = line.split(':');
      return { name: f[0] ?? '', id: Number(f[2] ?? '-1'), line };
    });
}

/** The last package in the environment that ships `etc/<file>`, whose content we extend. */
function shipped(pkgs: readonly CachedPackage[], file: string): string {
  for (let i = pkgs.length - 1; i >= 0; i--) {
    const p = join(pkgs[i]!.tree, 'etc', file);
    if (existsSync(p)) return readFileSync(p, 'utf8');
  }
  return '';
}

/**
 * `/etc/passwd` and `/etc/group` as apko writes them for melange: what the environment ships,
 * plus root, the `build` user (uid/gid 1000, home /home/build) and the config's accounts.
 */
export function accountFiles(
  pkgs: readonly CachedPackage[],
  users: readonly User[] = [],
  groups: readonly Group[] = [],
): { passwd: string; group: string } {
  const pw = parseDb(shipped(pkgs, 'passwd'));
  const gr = parseDb(shipped(pkgs, 'group'));
  const addUser = (name: string, uid: number, gid: number, home: string, shell: string) => {
    if (pw.some((a) => a.name === name)) return;
    pw.push({ name, id: uid, line: `${name}:x:${uid}:${gid}:${name}:${home}:${shell}` });
  };
  const addGroup = (name: string, gid: number, members: readonly string[]) => {
    if (gr.some((a) => a.name === name)) return;
    gr.push({ name, id: gid, line: `${name}:x:${gid}:${members.join(',')}` });
  };
  addGroup('root', 0, []);
  addUser('root', 0, 0, '/root', '/bin/sh');
  addGroup('build', BUILD_UID, ['build']);
  addUser('build', BUILD_UID, BUILD_UID, WORKSPACE, '/bin/sh');
  for (const g of groups)
    if (g.groupname && g.gid !== undefined) addGroup(g.groupname, g.gid, g.members ?? []);
  for (const u of users) {
    if (!u.username || u.uid === undefined) continue;
    addUser(u.username, u.uid, u.gid ?? u.uid, u.homedir ?? `/home/${u.username}`, u.shell ?? '/bin/sh');
  }
  const text = (xs: Account[]) => `${xs.map((a) => a.line).join('\n')}\n`;
  return { passwd: text(pw), group: text(gr) };
}

function parents(path: string): string[] {
  const parts = path.split('/').slice(0, -1);
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'));
}

/**
 * The small generated layer: the apk database, accounts, `/home/build` owned by the build user,
 * `/tmp`. Made with FileOp mkfile so it is keyed by its content and needs no transfer.
 */
function generatedLayer(files: readonly GeneratedFile[], epoch: number): State {
  const timestamp = new Date(epoch * 1000);
  const dirs = new Set<string>();
  for (const f of files) for (const d of parents(f.path)) dirs.add(d);
  let action = llb
    .mkdir(WORKSPACE, 0o755, { makeParents: true, chown: { user: BUILD_UID, group: BUILD_UID }, timestamp })
    .mkdir('/tmp', 0o1777, { makeParents: true, timestamp });
  for (const d of [...dirs].sort()) action = action.mkdir(`/${d}`, 0o755, { makeParents: true, timestamp });
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)))
    action = action.mkfile(`/${f.path}`, f.mode, f.data, { timestamp });
  return llb.scratch().file(action, { customName: 'environment: apk database and accounts' });
}

/** Symlinks a package installs (`bin` → `usr/bin`), as root-relative normalized targets. */
function recordLinks(p: CachedPackage, links: Map<string, string>): void {
  for (const f of p.manifest.files) {
    if (f.type !== 'symlink') continue;
    let target: string;
    try {
      target = readlinkSync(join(p.tree, f.path));
    } catch (e) {
      // Listed as a symlink but not one in the tree: nothing to record; any other error is real.
      if (isErrnoCode(e, 'ENOENT', 'EINVAL')) continue;
      throw e;
    }
    const base = target.startsWith('/') ? '' : posix.dirname(f.path);
    const abs = posix.normalize(posix.join('/', base, target)).slice(1);
    if (abs !== '' && !abs.startsWith('..')) links.set(f.path, abs);
  }
}

/** Follows recorded links through every leading component, as apk does when it extracts. */
function resolveThrough(path: string, links: ReadonlyMap<string, string>): string {
  let parts = path.split('/');
  for (let hops = 0, i = 1; i <= parts.length && hops < 40; i++) {
    const head = parts.slice(0, i).join('/');
    const to = links.get(head);
    if (to === undefined) continue;
    parts = [...to.split('/'), ...parts.slice(i)];
    i = 0;
    hops++;
  }
  return parts.join('/');
}

/**
 * Top-level directories of this package that an earlier package made symlinks (usrmerge:
 * `bin` → `usr/bin`). apk writes through such links; a plain MergeOp would replace the link with
 * the directory, so these directories are copied to where the link points instead.
 */
function redirectedDirs(
  p: CachedPackage,
  links: ReadonlyMap<string, string>,
): { from: string; to: string }[] {
  if (links.size === 0) return [];
  const out: { from: string; to: string }[] = [];
  const seen = new Set<string>();
  for (const f of p.manifest.files) {
    // The shallowest linked directory on this entry's path decides.
    const parts = f.path.split('/');
    const depth = f.type === 'directory' ? parts.length : parts.length - 1;
    // Heads grow one element at a time (a 20,000-file package has ~100,000 of them).
    let head = '';
    for (let i = 1; i <= depth; i++) {
      head = i === 1 ? parts[0]! : `${head}/${parts[i - 1]!}`;
      if (!links.has(head)) continue;
      if (!seen.has(head) && ![...seen].some((s) => head.startsWith(`${s}/`))) {
        seen.add(head);
        out.push({ from: head, to: resolveThrough(head, links) });
      }
      break;
    }
  }
  return out;
}

export interface EnvironmentLayers {
  /**
   * The environment's root: one layer per package, merged (MergeOp), with the generated layer
   * (apk database, accounts) copied on top.
   */
  readonly state: State;
  /** Local directories the solve must serve: each package's extracted tree. */
  readonly localDirs: Readonly<Record<string, LocalDir>>;
  /** Package layers in install order, for display. */
  readonly packages: readonly string[];
}

/**
 * The build environment as BuildKit layers. Each package's tree is a local source copied into
 * scratch: the copy is keyed by content, so an unchanged package keeps its layer (and cache) in
 * every build that uses it, and the `sharedKeyHint` lets the daemon reuse the synced directory so
 * only file metadata crosses the wire again.
 */
export function environmentLayers(env: ResolvedEnvironment, opts: LayerOptions): EnvironmentLayers {
  // Keyed by the resolved environment itself (a memoized resolution is the same object) and
  // every option: the same inputs give the same layers without walking the manifests again.
  const key = JSON.stringify([
    opts.users ?? [],
    opts.groups ?? [],
    opts.sourceDateEpoch,
    [...(opts.served ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    process.getuid?.() ?? -1,
  ]);
  let forEnv = layersMemo.get(env);
  if (!forEnv) {
    forEnv = new Map();
    layersMemo.set(env, forEnv);
  }
  const hit = forEnv.get(key);
  if (hit) return hit;
  const made = makeLayers(env, opts);
  if (forEnv.size >= MAX_LAYER_VARIANTS) forEnv.clear();
  forEnv.set(key, made);
  return made;
}

export interface LayerOptions {
  readonly users?: readonly User[];
  readonly groups?: readonly Group[];
  readonly sourceDateEpoch: number;
  /**
   * Packages served over HTTP (by {@link packageLocalName}): their layer is the data member
   * unpacked from an `llb.http` source keyed by its datahash, so the daemon never fetches or
   * syncs a package it has seen. Others (and any that must be written through a symlink)
   * come from local directories.
   */
  readonly served?: ReadonlyMap<string, ServedPackage>;
}

/** Layers made per resolved environment, by their options (a few: accounts, epoch, server). */
const layersMemo = new WeakMap<ResolvedEnvironment, Map<string, EnvironmentLayers>>();
const MAX_LAYER_VARIANTS = 8;

function makeLayers(env: ResolvedEnvironment, opts: LayerOptions): EnvironmentLayers {
  const localDirs: Record<string, LocalDir> = {};
  const layers: State[] = [];
  const links = new Map<string, string>();
  // Extracted as root, the trees carry the packages' owners; extracted by another user they
  // carry that user, which must not leak into the environment: everything is root's then.
  const owner = process.getuid?.() === 0 ? {} : { chown: { user: 0, group: 0 } };
  for (const p of env.packages) {
    const name = packageLocalName(p);
    const redirects = redirectedDirs(p, links);
    const served = opts.served?.get(name);
    if (served && redirects.length === 0) {
      const data = llb.http(served.url, {
        checksum: served.checksum,
        filename: 'data.tar.gz',
        customName: `[internal] fetch ${p.entry.name}`,
      });
      layers.push(
        llb.scratch().file(llb.copy(data, '/data.tar.gz', '/', { attemptUnpack: true }), {
          customName: `environment: ${p.entry.name}-${p.entry.version}`,
        }),
      );
      recordLinks(p, links);
      continue;
    }
    localDirs[name] = { path: p.tree };
    const src = llb.local(name, { sharedKeyHint: name, customName: `[internal] load ${p.entry.name}` });
    let action = llb.copy(src, '/', '/', {
      copyDirContentsOnly: true,
      ...owner,
      ...(redirects.length ? { excludePatterns: redirects.map((r) => r.from) } : {}),
    });
    for (const r of redirects)
      action = action.copy(src, `/${r.from}`, `/${r.to}`, {
        copyDirContentsOnly: true,
        createDestPath: true,
        ...owner,
      });
    layers.push(
      llb.scratch().file(action, { customName: `environment: ${p.entry.name}-${p.entry.version}` }),
    );
    recordLinks(p, links);
  }
  const accounts = accountFiles(env.packages, opts.users, opts.groups);
  const generated: GeneratedFile[] = [
    ...env.database,
    { path: 'etc/passwd', mode: 0o644, data: Buffer.from(accounts.passwd) },
    { path: 'etc/group', mode: 0o644, data: Buffer.from(accounts.group) },
  ];
  // The merge is keyed by the packages alone: on an overlay snapshotter it is materialised as a
  // hardlink farm of every file (seconds for a 20,000-file toolchain), so configs that install
  // the same packages but ask for them by other names (a different `world`) must share it. The
  // generated layer, which differs with the world, is copied on top (a few files; directories'
  // metadata from the generated layer wins, as in a merge).
  const packages = llb.merge(layers, { customName: `environment (${env.packages.length} packages)` });
  return {
    state: packages.file(
      llb.copy(generatedLayer(generated, opts.sourceDateEpoch), '/', '/', { copyDirContentsOnly: true }),
      { customName: 'environment: apk database and accounts on the packages' },
    ),
    localDirs,
    packages: env.packages.map((p) => `${p.entry.name}-${p.entry.version}`),
  };
}
