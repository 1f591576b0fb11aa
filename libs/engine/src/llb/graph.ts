import { type Definition, llb, marshal, type State } from '@melange2/buildkit';
import type { BuildPlan, PlanStep } from '../compile/plan.js';
import { archInfo, OUTDIR, WORKSPACE } from '@melange2/melange';

/** The local source name of the placeholder build environment (see {@link placeholderEnvironment}). */
export const ENVIRONMENT_LOCAL = 'environment';
/** The local source name of the package's source tree (melange's `--source-dir`). */
export const SOURCE_LOCAL = 'source';
/** Cache mount id of `/var/cache/melange`, shared by every build on a daemon. */
export const MELANGE_CACHE_ID = 'melange-cache';
const MELANGE_CACHE_DIR = '/var/cache/melange';
/** Where the export carries what the steps wrote into a seeded /var/cache/melange (no package is named so). */
export const CACHE_EXPORT = '.melange-cache';
/** The build user melange adds to every build environment. */
export const BUILD_UID = 1000;

/** A secret given to every step: as an environment variable, a file, or both. */
export interface StepSecret {
  /** Session secret id. */
  readonly id: string;
  readonly env?: string;
  readonly path?: string;
  readonly optional?: boolean;
}

export interface GraphOptions {
  /**
   * The build environment's root filesystem. Until environments are assembled from APKs this is
   * a placeholder: the contents of the local directory `environment`, copied (so the cache key
   * is the content, not the session).
   */
  readonly environment?: State;
  /** The source tree copied into /home/build (for example `llb.local('source')`); none by default. */
  readonly source?: State;
  readonly secrets?: readonly StepSecret[];
  /**
   * melange's `--cache-dir` (see build/build-cache.ts): the steps see `seed`'s {@link CACHE_ROOT}
   * at /var/cache/melange, writable, each step's writes passed on to the next; with `collect`
   * the output also holds what they wrote, under `.melange-cache/cache/`. Without it the steps share
   * a cache mount kept by the daemon.
   */
  readonly cache?: { readonly seed: State; readonly collect: boolean };
}

/** The compiled graph of one build: the Definition and the state whose contents are `melange-out/`. */
export interface BuildGraph {
  readonly definition: Definition;
  /** The `melange-out` tree (one directory per package), as the export of the solve. */
  readonly output: State;
  readonly platform: llb.Platform;
}

/** Quotes a string for /bin/sh (single quotes; a quote becomes '\''). */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The script melange runs for a step (buildEvalRunCommand): errexit, create and enter the working
 * directory, the step's `runs`, success. No pipefail, as in melange: a step that wants it sets it
 * (Wolfi's tests such as `find /usr | fzf --filter=x | grep -q x` rely on a producer killed by
 * SIGPIPE not failing the step).
 */
export function stepScript(step: Pick<PlanStep, 'runs' | 'workdir'>): string {
  const wd = shellQuote(step.workdir);
  return [
    'set -e',
    `[ -d ${wd} ] || mkdir -p ${wd}`,
    `cd ${wd}`,
    step.runs.endsWith('\n') ? step.runs.slice(0, -1) : step.runs,
    'exit 0',
  ].join('\n');
}

/** The placeholder environment: a content-hashed copy of the local directory `environment`. */
function placeholderEnvironment(): State {
  return llb.scratch().file(llb.copy(llb.local(ENVIRONMENT_LOCAL), '/', '/', { copyDirContentsOnly: true }), {
    customName: 'environment (placeholder)',
  });
}

/** The cache directory inside the state a /var/cache/melange mount is made from. */
export const CACHE_ROOT = '/cache';

/**
 * The root a fresh `/var/cache/melange` starts from: a directory the build user owns, mode 1777
 * (melange's qemu runner makes its cache overlay 1777; bubblewrap binds the host directory
 * writable), so GOMODCACHE, PIP_CACHE_DIR, npm_config_cache … below it are writable by every
 * user a step may run as. As BuildKit's Dockerfile frontend does for `--mount=type=cache,uid=`,
 * the mount is seeded from this directory (the seed is part of the cache mount's identity).
 */
export function writableCacheRoot(): State {
  return llb.scratch().file(
    llb.mkdir(CACHE_ROOT, 0o1777, {
      chown: { user: BUILD_UID, group: BUILD_UID },
      timestamp: new Date(0),
    }),
    { customName: '[internal] writable /var/cache/melange' },
  );
}

function userFor(runAs: string | undefined): string {
  if (runAs === undefined || runAs === '' || runAs === 'build') return `${BUILD_UID}:${BUILD_UID}`;
  if (runAs === 'root') return '0:0';
  return runAs;
}

function sortedEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(env).sort()) out[k] = env[k]!;
  return out;
}

/**
 * Turns a build plan into LLB: environment → workspace (`/home/build` owned by the build user,
 * the source tree copied in, one `melange-out/<pkg>` per package) → one exec per step → a
 * scratch state holding only `melange-out/`.
 */
export function buildGraph(plan: BuildPlan, options: GraphOptions = {}): BuildGraph {
  const arch = archInfo(plan.arch);
  const platform: llb.Platform = { os: 'linux', architecture: arch.go };
  const owner = { user: BUILD_UID, group: BUILD_UID };
  const env = options.environment ?? placeholderEnvironment();

  let prep = llb
    .mkdir(WORKSPACE, 0o755, { makeParents: true, chown: owner })
    .mkdir('/tmp', 0o1777, { makeParents: true })
    .mkdir(MELANGE_CACHE_DIR, 0o755, { makeParents: true, chown: owner })
    .mkdir(OUTDIR, 0o755, { makeParents: true, chown: owner });
  if (options.source)
    prep = prep.copy(options.source, '/', WORKSPACE, { copyDirContentsOnly: true, chown: owner });
  for (const p of plan.packages)
    prep = prep.mkdir(`${OUTDIR}/${p}`, 0o755, { makeParents: true, chown: owner });
  let state = env.file(prep, { customName: 'prepare workspace /home/build' });

  const secretEnv = (options.secrets ?? [])
    .filter((s) => s.env)
    .map((s) => ({ id: s.id, name: s.env!, ...(s.optional ? { optional: true } : {}) }));
  const secretMounts = (options.secrets ?? [])
    .filter((s) => s.path)
    .map((s) =>
      llb.secret(s.path!, s.id, {
        uid: BUILD_UID,
        gid: BUILD_UID,
        ...(s.optional ? { optional: true } : {}),
      }),
    );
  const user = userFor(plan.environment.runAs);
  // The daemon's shared cache, or the seeded cache carried from step to step.
  const shared = llb.cache(MELANGE_CACHE_DIR, MELANGE_CACHE_ID, {
    sharing: 'shared',
    source: writableCacheRoot(),
    selector: CACHE_ROOT,
  });
  let cache = options.cache?.seed;
  for (const step of plan.steps) {
    const exec = state.run({
      args: ['/bin/sh', '-c', stepScript(step)],
      env: sortedEnv({ HOME: WORKSPACE, ...step.env, SOURCE_DATE_EPOCH: String(plan.sourceDateEpoch) }),
      // The script creates and enters the step's directory as the build user; a missing cwd
      // would be created by the daemon as root and be unwritable.
      cwd: WORKSPACE,
      user,
      mounts: [
        cache ? llb.bind(MELANGE_CACHE_DIR, cache, { selector: CACHE_ROOT }) : shared,
        ...secretMounts,
      ],
      ...(secretEnv.length > 0 ? { secretEnv } : {}),
      customName: step.name,
      progressGroup: { id: step.context, name: step.context },
    });
    state = exec.root();
    if (cache) cache = exec.getMount(MELANGE_CACHE_DIR);
  }

  let exported = llb.copy(state, OUTDIR, '/', { copyDirContentsOnly: true });
  if (options.cache?.collect && cache && plan.steps.length > 0)
    // The whole diff (its root always exists; `cache/` only when something was written).
    exported = exported.copy(llb.diff(options.cache.seed, cache), '/', `/${CACHE_EXPORT}/`, {
      copyDirContentsOnly: true,
      createDestPath: true,
    });
  const output = llb.scratch().file(exported, { customName: 'export melange-out' });
  return { definition: marshal(output, { platform }), output, platform };
}
