import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { SigningKey } from '@melange2/apk';
import {
  type BuildkitClient,
  CancelledError,
  type FailedStep,
  type LocalDir,
  llb,
  SolveError,
  type SolveEvent,
  type SolveResult,
} from '@melange2/buildkit';
import { compileConfig } from '../compile/compile.js';
import { type BuildPlan, NotForArchError, type PlanEnvironment, type PlanStep } from '../compile/plan.js';
import {
  ConfigError,
  parseConfig,
  type ParsedConfig,
  PipelineResolver,
  readConfigFile,
  type StrMap,
} from '@melange2/melange';
import { type EnvironmentLayers, environmentLayers, packageLocalName } from '../environment/layers.js';
import { EnvironmentError, resolveEnvironment } from '../environment/resolve.js';
import type { LayerServer } from '../environment/serve.js';
import { buildGraph, type GraphOptions, SOURCE_LOCAL } from '../llb/graph.js';
import { failedStepIndex, type StepGrouping } from '../llb/groups.js';
import { type PackagedApk, PackageError, packageOutputs, updateRepositoryIndex } from '../package/package.js';
import { packagingKey, reusePackaged, storePackaged } from '../package/reuse.js';
import { defaultPipelineDirs, packageSourceDir } from '../repo.js';
import { buildCacheSeed, collectCacheWrites } from './build-cache.js';
import { BuildError } from './errors.js';

/** Progress of a build: stages, the environment, BuildKit's own events, packages written. */
export type BuildEvent =
  | {
      readonly type: 'stage';
      readonly stage: 'environment' | 'solve' | 'package' | 'index';
      readonly arch: string;
    }
  | { readonly type: 'environment'; readonly arch: string; readonly packages: readonly string[] }
  | { readonly type: 'solve'; readonly arch: string; readonly event: SolveEvent }
  | { readonly type: 'package'; readonly arch: string; readonly apk: PackagedApk };

/** What every build and test run shares: inputs, repositories, keys, the daemon. */
export interface CommonRequest {
  readonly configFile: string;
  readonly arch: string;
  readonly client: BuildkitClient;
  /** The output repository (`packages/`): packages go to `<outDir>/<arch>/`, and it is searched first. */
  readonly outDir: string;
  readonly signingKey: SigningKey;
  readonly repositoryAppend?: readonly string[];
  readonly keyringAppend?: readonly string[];
  /** `uses:` directories searched before the built-ins (default `<config dir>/pipelines`). */
  readonly pipelineDirs?: readonly string[];
  /** `--env-file` contents, lowest precedence first. */
  readonly envFiles?: readonly StrMap[];
  /** `--vars-file` contents: merged over the config's `vars`. */
  readonly vars?: StrMap;
  readonly buildOptions?: readonly string[];
  /** Default: $SOURCE_DATE_EPOCH, else the compile default. */
  readonly sourceDateEpoch?: number;
  /** Package cache (default `$XDG_CACHE_HOME/melange2-orch/apk`). */
  readonly cacheDir?: string;
  /**
   * Names the same run is about to produce (packages and their provides) and has not published:
   * the environment must not resolve any of them from elsewhere (see `EnvironmentRequest.awaiting`).
   */
  readonly awaiting?: readonly string[];
  /**
   * melange's `--cache-dir`: the host directory the build sees at /var/cache/melange. Only the
   * entries the steps name are sent; what the build writes there lands in it afterwards
   * (design: build/build-cache.ts).
   */
  readonly buildCacheDir?: string;
  /** Bare git mirrors (`<host>/<path>.git`) git-checkout clones from instead of the network. */
  readonly gitMirror?: string;
  readonly onEvent?: (e: BuildEvent) => void;
  readonly signal?: AbortSignal;
  /**
   * Serve environment packages over HTTP from this server instead of local directories: a
   * package the daemon has seen is then neither fetched nor synced again. The daemon must reach
   * the server (same host, or `advertise` set to a routable address).
   */
  readonly layerServer?: LayerServer;
  /** Which steps share one exec (one container); see {@link StepGrouping}. */
  readonly stepGrouping?: StepGrouping;
}

export interface BuildRequest extends CommonRequest {
  /** Source tree copied into /home/build (default `<config dir>/<package>/` when it exists). */
  readonly sourceDir?: string;
  /** Add the packages to `<outDir>/<arch>/APKINDEX.tar.gz` (default true, as melange's `--generate-index`). */
  readonly generateIndex?: boolean;
}

export interface BuildTimings {
  readonly environmentMs: number;
  readonly solveMs: number;
  readonly packageMs: number;
  readonly totalMs: number;
}

export interface BuildResult {
  readonly plan: BuildPlan;
  readonly apks: readonly PackagedApk[];
  /** `<outDir>/<arch>/APKINDEX.tar.gz`, unless `generateIndex` was false. */
  readonly index: string | undefined;
  readonly environment: readonly string[];
  readonly solve: SolveResult;
  /** Bytes the daemon pulled from us (local sources), from its transfer progress. */
  readonly bytesSent: number;
  /**
   * The APKs are copies of ones made before from identical packaging inputs (exported tree,
   * config, SBOMs, signing key, SOURCE_DATE_EPOCH; see package/reuse.ts), not packaged again.
   */
  readonly packagesReused: boolean;
  readonly timings: BuildTimings;
}

function defaultCacheDir(): string {
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'melange2-orch', 'apk');
}

/** The graph option and local directories for `buildCacheDir` and `gitMirror`, or nothing. */
export function buildCacheOf(
  req: CommonRequest,
  plan: Pick<BuildPlan, 'steps'>,
  collect: boolean,
): { cache?: GraphOptions['cache']; localDirs?: Readonly<Record<string, LocalDir>> } {
  const seed = buildCacheSeed(plan, {
    ...(req.buildCacheDir ? { cacheDir: req.buildCacheDir } : {}),
    ...(req.gitMirror ? { gitMirror: req.gitMirror } : {}),
  });
  if (!seed) return {};
  return { cache: { seed: seed.state, collect: collect && !!req.buildCacheDir }, localDirs: seed.localDirs };
}

function epochOf(req: CommonRequest): number | undefined {
  if (req.sourceDateEpoch !== undefined) return req.sourceDateEpoch;
  const env = process.env['SOURCE_DATE_EPOCH'];
  return env && /^\d+$/.test(env) ? Number(env) : undefined;
}

/** Parses and compiles the config for one arch; config errors become a {@link BuildError}. */
export function planBuild(req: CommonRequest): { parsed: ParsedConfig; plan: BuildPlan } {
  const file = req.configFile;
  let text: string;
  try {
    text = readConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigError)
      throw new BuildError('config', file, req.arch, e.message, { diagnostics: e.errors }, { cause: e });
    throw new BuildError(
      'config',
      file,
      req.arch,
      `${file}: cannot read the config: ${(e as Error).message}`,
      {},
      { cause: e },
    );
  }
  try {
    const parsed = parseConfig(text, file, {
      envFiles: req.envFiles ?? [],
      ...(req.vars ? { vars: req.vars } : {}),
    });
    const epoch = epochOf(req);
    const plan = compileConfig(parsed, {
      arch: req.arch,
      resolver: new PipelineResolver(req.pipelineDirs ?? defaultPipelineDirs(dirname(file))),
      ...(req.buildOptions ? { buildOptions: req.buildOptions } : {}),
      ...(epoch !== undefined ? { sourceDateEpoch: epoch } : {}),
    });
    return { parsed, plan };
  } catch (e) {
    if (e instanceof ConfigError)
      throw new BuildError('config', file, req.arch, e.message, { diagnostics: e.errors }, { cause: e });
    if (e instanceof NotForArchError)
      throw new BuildError('config', file, req.arch, e.message, { notForArch: true }, { cause: e });
    throw e;
  }
}

/** Resolves an environment (local output repository first) and turns it into BuildKit layers. */
export async function prepareEnvironment(
  req: CommonRequest,
  env: PlanEnvironment,
  extraRepositories: readonly string[],
  sourceDateEpoch: number,
): Promise<EnvironmentLayers> {
  try {
    const resolved = await resolveEnvironment({
      arch: req.arch,
      packages: env.packages,
      repositories: [
        resolve(req.outDir),
        ...(req.repositoryAppend ?? []),
        ...env.repositories,
        ...extraRepositories,
      ],
      keyring: [...(req.keyringAppend ?? []), ...env.keyring],
      signingKey: req.signingKey,
      cacheDir: req.cacheDir ?? defaultCacheDir(),
      ...(req.awaiting ? { awaiting: req.awaiting } : {}),
    });
    const server = req.layerServer;
    const served = server
      ? new Map(
          await Promise.all(
            resolved.packages.map(async (p) => [packageLocalName(p), await server.add(p)] as const),
          ),
        )
      : undefined;
    const layers = environmentLayers(resolved, {
      users: env.users,
      groups: env.groups,
      sourceDateEpoch,
      ...(served ? { served } : {}),
    });
    req.onEvent?.({ type: 'environment', arch: req.arch, packages: layers.packages });
    return layers;
  } catch (e) {
    if (e instanceof EnvironmentError)
      throw new BuildError('environment', req.configFile, req.arch, e.message, {}, { cause: e });
    throw e;
  }
}

/** Sums what the daemon reports transferring from our local sources (the largest figure per transfer). */
function bytesTransferred(vertices: Iterable<SolveEvent>): number {
  const max = new Map<string, number>();
  for (const e of vertices) {
    if (e.type !== 'vertex.progress' || !e.id.startsWith('transferring')) continue;
    const k = `${e.vertex.digest} ${e.id}`;
    max.set(k, Math.max(max.get(k) ?? 0, e.current));
  }
  let n = 0;
  for (const v of max.values()) n += v;
  return n;
}

/** The failed exec as the step that failed: a group's log names it (see llb/groups.ts). */
function failedStep(s: FailedStep, steps: readonly PlanStep[]): FailedStep {
  const i = failedStepIndex(s.logTail);
  const step = i === undefined ? undefined : steps[i];
  return step ? { ...s, name: step.name } : s;
}

/**
 * Runs a solve, turning a failed step into a {@link BuildError} with its name, exit code and log
 * tail; `steps` are the plan's, to name the step that failed inside a group of steps.
 */
export async function solveWith(
  req: CommonRequest,
  def: ReturnType<typeof buildGraph>['definition'],
  localDirs: Readonly<Record<string, LocalDir>>,
  exportDir: string | undefined,
  label: string,
  steps: readonly PlanStep[],
): Promise<{ result: SolveResult; bytesSent: number }> {
  const events: SolveEvent[] = [];
  const servedBefore = req.layerServer?.bytesServed ?? 0;
  try {
    const result = await req.client.solve(
      def,
      {
        localDirs,
        ...(exportDir ? { exports: [{ type: 'local', dest: exportDir }] } : {}),
        // Stable across runs, so the daemon reuses directories synced before (only changes cross).
        sharedKey: 'melange2-orch',
      },
      {
        ...(req.signal ? { signal: req.signal } : {}),
        onEvent: (event) => {
          if (event.type === 'vertex.progress') events.push(event);
          req.onEvent?.({ type: 'solve', arch: req.arch, event });
        },
      },
    );
    const served = (req.layerServer?.bytesServed ?? 0) - servedBefore;
    return { result, bytesSent: bytesTransferred(events) + served };
  } catch (e) {
    if (e instanceof CancelledError)
      throw new BuildError(
        'solve',
        req.configFile,
        req.arch,
        `${label} (${req.arch}): cancelled`,
        {},
        { cause: e },
      );
    if (e instanceof SolveError) {
      const s = e.step && failedStep(e.step, steps);
      const msg = s
        ? `${label} (${req.arch}): step "${s.name}" failed${s.exitCode !== undefined ? ` with exit code ${s.exitCode}` : ''}` +
          (s.logTail.length ? `\n${s.logTail.map((l) => `  | ${l}`).join('\n')}` : `: ${s.error}`)
        : `${label} (${req.arch}): ${e.message}`;
      throw new BuildError('solve', req.configFile, req.arch, msg, s ? { step: s } : {}, { cause: e });
    }
    throw e;
  }
}

/** The package stage (every output signed as an .apk) and the index stage (unless `generateIndex` is false). */
async function packageAndIndex(
  req: BuildRequest,
  parsed: ParsedConfig,
  plan: BuildPlan,
  melangeOut: string,
): Promise<{ apks: PackagedApk[]; index: string | undefined; reused: boolean }> {
  req.onEvent?.({ type: 'stage', stage: 'package', arch: req.arch });
  let apks: PackagedApk[];
  let reused: PackagedApk[] | undefined;
  try {
    const o = { parsed, plan, melangeOut, outDir: req.outDir, signingKey: req.signingKey };
    // The same inputs made these signed APKs before: copy them (package/reuse.ts).
    const store = join(req.cacheDir ?? defaultCacheDir(), 'packaged');
    // The store is a cache: a tree it cannot key or an entry it cannot write only costs the reuse.
    const key = await packagingKey(o).catch(() => undefined);
    reused = key === undefined ? undefined : await reusePackaged(store, key, o);
    apks = reused ?? (await packageOutputs(o));
    if (key !== undefined && !reused) await storePackaged(store, key, apks).catch(() => undefined);
  } catch (e) {
    if (e instanceof PackageError)
      throw new BuildError('package', req.configFile, req.arch, e.message, { pkg: e.pkg }, { cause: e });
    throw e;
  }
  for (const apk of apks) req.onEvent?.({ type: 'package', arch: req.arch, apk });
  let index: string | undefined;
  if (req.generateIndex !== false) req.onEvent?.({ type: 'stage', stage: 'index', arch: req.arch });
  try {
    if (req.generateIndex !== false)
      index = await updateRepositoryIndex(
        req.outDir,
        plan.arch,
        apks.map((a) => a.path),
        req.signingKey,
      );
  } catch (e) {
    throw new BuildError(
      'index',
      req.configFile,
      req.arch,
      `updating the index: ${(e as Error).message}`,
      {},
      { cause: e },
    );
  }
  return { apks, index, reused: reused !== undefined };
}

/**
 * Builds one config for one arch on a real daemon: compile, resolve the environment (fresh
 * packages from the output repository first), solve with the environment as per-package layers,
 * export `melange-out/`, package every (sub)package as a signed .apk and update the index.
 */
export async function buildPackage(req: BuildRequest): Promise<BuildResult> {
  const t0 = performance.now();
  const { parsed, plan } = planBuild(req);
  req.onEvent?.({ type: 'stage', stage: 'environment', arch: req.arch });
  const layers = await prepareEnvironment(req, plan.environment, [], plan.sourceDateEpoch);
  const t1 = performance.now();

  const sourceDir = req.sourceDir ?? packageSourceDir(req.configFile, plan.package.name);
  const { localDirs: cacheDirs, ...cache } = buildCacheOf(req, plan, true);
  const graph = buildGraph(plan, {
    environment: layers.state,
    ...cache,
    ...(req.stepGrouping ? { grouping: req.stepGrouping } : {}),
    ...(sourceDir
      ? { source: llb.local(SOURCE_LOCAL, { sharedKeyHint: `source-${plan.package.name}` }) }
      : {}),
  });
  const work = await mkdtemp(join(tmpdir(), 'm2-build-'));
  try {
    req.onEvent?.({ type: 'stage', stage: 'solve', arch: req.arch });
    const exportDir = join(work, 'melange-out');
    const { result, bytesSent } = await solveWith(
      req,
      graph.definition,
      {
        ...layers.localDirs,
        ...cacheDirs,
        ...(sourceDir ? { [SOURCE_LOCAL]: { path: resolve(sourceDir) } } : {}),
      },
      exportDir,
      `build ${plan.package.name}`,
      plan.steps,
    );
    if (req.buildCacheDir) await collectCacheWrites(exportDir, req.buildCacheDir);
    const t2 = performance.now();

    const { apks, index, reused } = await packageAndIndex(req, parsed, plan, exportDir);
    const t3 = performance.now();
    return {
      plan,
      apks,
      index,
      environment: layers.packages,
      solve: result,
      bytesSent,
      packagesReused: reused,
      timings: { environmentMs: t1 - t0, solveMs: t2 - t1, packageMs: t3 - t2, totalMs: t3 - t0 },
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
