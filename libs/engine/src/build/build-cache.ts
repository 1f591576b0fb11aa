/**
 * melange's build cache (`--cache-dir DIR`: DIR is what the build sees at /var/cache/melange)
 * and git mirrors (`--git-mirror DIR`), on BuildKit.
 *
 * Design. A build never sees the host directory itself: BuildKit would have to sync all of it,
 * and a cache key made from a whole, growing directory would change with every unrelated file.
 * Instead:
 * - **Seed, only what the build uses.** The compiled steps name what they can use: `fetch`
 *   substitutes `expected-sha256`/`expected-sha512` into its script, `git-checkout` its
 *   repository URL. Each 64/128-hex word of the scripts whose `sha256:<hex>`/`sha512:<hex>` file
 *   is in DIR, each repository URL with a bare mirror `<host>/<path>.git` in the mirror
 *   directory (or under DIR's `git/`), each entry a script names by path
 *   (`/var/cache/melange/<entry>/…`) and the language cache of a tool a step runs (GOMODCACHE
 *   for `go`, PIP_CACHE_DIR for `pip`, …) is sent, through a local source limited to exactly those
 *   paths (`include` patterns), and copied into a scratch directory owned by the build user,
 *   mode 1777. The copy is keyed by content, so a seeded build keeps its cache keys from run to
 *   run and session to session, a changed seed file changes the keys of the steps after it (as
 *   any input would), and a file the build does not name is never sent.
 * - **Writes come back.** The seed is mounted writable at /var/cache/melange and each step's
 *   cache mount output is the next step's input: what a step writes (a download `fetch` stores
 *   as `sha256:<sum>`, GOMODCACHE, pip's cache, …) is there for the later steps, as with melange's
 *   bind mount. The export carries the difference between the last step's cache and the seed (a
 *   DiffOp: only what the build wrote) under `.melange-cache/cache/`, and {@link collectCacheWrites}
 *   moves it into DIR for the next build (temp name + rename per file).
 * - Without `--cache-dir` the steps share the daemon's cache mount (see llb/graph.ts), whose
 *   writes stay on the daemon.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, readdir, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type LocalDir, llb, type State } from '@melange2/buildkit';
import { BUILD_UID, CACHE_EXPORT, CACHE_ROOT, writableCacheRoot } from '../llb/graph.js';
import type { BuildPlan } from '../compile/plan.js';

/** The local source names of the seed. */
const CACHE_LOCAL = 'melange-cache';
const MIRROR_LOCAL = 'melange-git-mirror';
/** The directory under /var/cache/melange that holds git mirrors (the git-checkout pipeline looks there). */
const MIRROR_SUBDIR = 'git';
const MELANGE_CACHE = '/var/cache/melange/';
/** Seed entries per build, a bound for scripts full of hex words. */
const MAX_SEED = 4096;

/** What a build's /var/cache/melange starts from, and the local directories the solve must serve. */
export interface BuildCacheSeed {
  /** A state whose {@link CACHE_ROOT} is the cache directory. */
  readonly state: State;
  readonly localDirs: Readonly<Record<string, LocalDir>>;
  /** Paths sent, relative to /var/cache/melange (`sha256:…`, `git/github.com/x/y.git`). */
  readonly sent: readonly string[];
}

/** Checksummed files the steps name: `sha256:<hex>` and `sha512:<hex>`, whether or not they exist. */
export function checksumNames(plan: Pick<BuildPlan, 'steps'>): string[] {
  const out = new Set<string>();
  for (const s of plan.steps) {
    for (const m of s.runs.matchAll(/(?<![0-9a-fA-F])([0-9a-f]{128}|[0-9a-f]{64})(?![0-9a-fA-F])/g)) {
      out.add(`${m[1]!.length === 64 ? 'sha256' : 'sha512'}:${m[1]!}`);
      if (out.size >= MAX_SEED) break;
    }
  }
  return [...out].sort();
}

/**
 * The mirror path of a repository URL: `https://github.com/madler/zlib(.git)` →
 * `github.com/madler/zlib.git` (`git://`, `ssh://` and `http://` alike; user and port dropped).
 */
export function mirrorPath(url: string): string | undefined {
  const m = /^(?:https?|git|ssh):\/\/(?:[^@/]+@)?([^/:]+)(?::\d+)?\/(.+?)\/*$/.exec(url);
  if (!m) return undefined;
  const path = m[2]!.replace(/\.git$/, '');
  if (path.split('/').some((p) => p === '' || p === '.' || p === '..')) return undefined;
  return `${m[1]!}/${path}.git`;
}

/** Repository URLs named in the steps (git-checkout substitutes its `repository` input into its script). */
function repositoryUrls(plan: Pick<BuildPlan, 'steps'>): string[] {
  const out = new Set<string>();
  for (const s of plan.steps)
    for (const m of s.runs.matchAll(/(?:https?|git|ssh):\/\/[^\s'"`;|&<>()]+/g)) {
      out.add(m[0]);
      if (out.size >= MAX_SEED) break;
    }
  return [...out].sort();
}

/** Language caches melange points into /var/cache/melange, by the tool that uses them. */
const TOOL_CACHES: readonly (readonly [env: string, tool: RegExp])[] = [
  ['GOMODCACHE', /\bgo\b/],
  ['PIP_CACHE_DIR', /\bpip3?\b|\bpython3?\b/],
  ['UV_CACHE_DIR', /\buv\b/],
  ['COMPOSER_CACHE_DIR', /\bcomposer\b/],
  ['npm_config_cache', /\bnpm\b/],
];

/**
 * A script without its comment lines: comments are prose and name tools too (split/dev's "include
 * directories … go with the headers" made every build send GOMODCACHE).
 */
const withoutComments = (runs: string): string =>
  runs
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n');

/**
 * Top-level entries of /var/cache/melange the steps use other than by checksum: a path a script
 * names (`/var/cache/melange/go/…`), and a language cache (GOMODCACHE, PIP_CACHE_DIR, …) of a
 * step whose script runs its tool or names its variable.
 */
export function namedEntries(plan: Pick<BuildPlan, 'steps'>): string[] {
  const out = new Set<string>();
  const top = (path: string) => path.slice(MELANGE_CACHE.length).split('/')[0]!;
  for (const s of plan.steps) {
    for (const m of s.runs.matchAll(/\/var\/cache\/melange\/([^\s'"`;|&<>()$/\\]+)/g)) out.add(m[1]!);
    const code = withoutComments(s.runs);
    for (const [v, tool] of TOOL_CACHES) {
      const value = s.env[v];
      if (!value?.startsWith(MELANGE_CACHE)) continue;
      if (tool.test(code) || code.includes(`$${v}`) || code.includes(`\${${v}}`)) out.add(top(value));
    }
    if (out.size >= MAX_SEED) break;
  }
  out.delete('');
  return [...out].filter((e) => e !== '.' && e !== '..').sort();
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();
const isFile = (p: string) => existsSync(p) && statSync(p).isFile();

/**
 * The seed of a build's /var/cache/melange from `cacheDir` and `gitMirror` (either may be absent):
 * undefined when neither is given. See the module comment for the design.
 */
export function buildCacheSeed(
  plan: Pick<BuildPlan, 'steps'>,
  dirs: { readonly cacheDir?: string; readonly gitMirror?: string },
): BuildCacheSeed | undefined {
  if (!dirs.cacheDir && !dirs.gitMirror) return undefined;
  const owner = { chown: { user: BUILD_UID, group: BUILD_UID } };
  let state = writableCacheRoot();
  const localDirs: Record<string, LocalDir> = {};
  const sent: string[] = [];
  const mirrors = repositoryUrls(plan)
    .map(mirrorPath)
    .filter((p): p is string => p !== undefined);
  if (dirs.cacheDir) {
    const root = resolve(dirs.cacheDir);
    const files = checksumNames(plan).filter((n) => isFile(join(root, n)));
    const inCache = mirrors.map((m) => `${MIRROR_SUBDIR}/${m}`).filter((m) => isDir(join(root, m)));
    const named = namedEntries(plan).filter(
      (n) => existsSync(join(root, n)) && !files.includes(n) && n !== MIRROR_SUBDIR,
    );
    const include = [...files, ...inCache, ...named];
    if (include.length > 0) {
      localDirs[CACHE_LOCAL] = { path: root };
      const src = llb.local(CACHE_LOCAL, {
        include,
        sharedKeyHint: 'melange-cache',
        customName: '[internal] load build cache',
      });
      state = state.file(llb.copy(src, '/', CACHE_ROOT, { copyDirContentsOnly: true, ...owner }), {
        customName: `build cache: ${include.length} entr${include.length === 1 ? 'y' : 'ies'}`,
      });
      sent.push(...include);
    }
  }
  if (dirs.gitMirror) {
    const root = resolve(dirs.gitMirror);
    const found = mirrors.filter((m) => isDir(join(root, m)) && !sent.includes(`${MIRROR_SUBDIR}/${m}`));
    if (found.length > 0) {
      localDirs[MIRROR_LOCAL] = { path: root };
      const src = llb.local(MIRROR_LOCAL, {
        include: found,
        sharedKeyHint: 'melange-git-mirror',
        customName: '[internal] load git mirrors',
      });
      state = state.file(
        llb.copy(src, '/', `${CACHE_ROOT}/${MIRROR_SUBDIR}`, {
          copyDirContentsOnly: true,
          createDestPath: true,
          ...owner,
        }),
        { customName: `git mirrors: ${found.join(', ')}` },
      );
      sent.push(...found.map((m) => `${MIRROR_SUBDIR}/${m}`));
    }
  }
  return { state, localDirs, sent };
}

/** Moves one exported tree into `to`, file by file (temp name + rename): later builds find it there. */
async function mergeInto(from: string, to: string, rel: string, moved: string[]): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const e of await readdir(from, { withFileTypes: true })) {
    const src = join(from, e.name);
    const dst = join(to, e.name);
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      const st = await stat(dst).catch(() => undefined);
      if (st && !st.isDirectory()) continue;
      await mergeInto(src, dst, r, moved);
    } else if (e.isFile() || e.isSymbolicLink()) {
      // Content-addressed downloads that are there already stay as they are.
      if (/^sha(256|512):/.test(e.name) && existsSync(dst)) continue;
      // Copied next to its place first (the export may be on another filesystem), then renamed.
      const tmp = `${dst}.m2-tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
      if (e.isSymbolicLink()) await symlink(await readlink(src), tmp);
      else await copyFile(src, tmp);
      await rename(tmp, dst);
      moved.push(r);
    }
  }
}

/**
 * Moves what the build wrote into /var/cache/melange (exported under {@link CACHE_EXPORT}) into
 * the host cache directory, and removes it from the export. Returns the paths moved.
 */
export async function collectCacheWrites(exportDir: string, cacheDir: string): Promise<string[]> {
  const top = join(exportDir, CACHE_EXPORT);
  const from = join(top, CACHE_ROOT);
  const moved: string[] = [];
  try {
    if (existsSync(from)) await mergeInto(from, resolve(cacheDir), '', moved);
  } finally {
    await rm(top, { recursive: true, force: true });
  }
  return moved.sort();
}
