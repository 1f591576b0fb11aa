import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { BuildkitClient, ConnectError, ProgressRenderer, type SolveSummary } from '@melange2/buildkit';
import {
  BuildError,
  type BuildEvent,
  buildPackage,
  type CommonRequest,
  LayerServer,
  readEnvFile,
} from '@melange2/engine';
import { formatDiagnostic, readVarsFile } from '@melange2/melange';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import {
  BUILDKIT_TLS_FLAGS,
  buildkitAddresses,
  buildkitTls,
  layerServerHost,
  requireBuildkit,
} from '../flags/buildkit.js';
import { addFlags, type FlagSet, type FlagValues, readFlags, withDefault } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { signingKeyFrom } from './apk-options.js';

/** Flags `build` and `test` share, named as melange names them. */
export const BUILD_FLAGS = {
  arch: withDefault(FLAGS.arch, ['x86_64']),
  buildkitAddr: FLAGS.buildkitAddr,
  ...BUILDKIT_TLS_FLAGS,
  outDir: withDefault(FLAGS.outDir, 'packages'),
  signingKey: FLAGS.signingKey,
  repositoryAppend: FLAGS.repositoryAppend,
  keyringAppend: FLAGS.keyringAppend,
  pipelineDir: FLAGS.pipelineDir,
  envFile: FLAGS.envFile,
  buildOption: FLAGS.buildOption,
  varsFile: FLAGS.varsFile,
  sourceDateEpoch: FLAGS.sourceDateEpoch,
  cacheDir: FLAGS.cacheDir,
  gitMirror: FLAGS.gitMirror,
  apkCacheDir: FLAGS.apkCacheDir,
  debug: FLAGS.debug,
  serveLayers: FLAGS.serveLayers,
  stepGrouping: FLAGS.stepGrouping,
} satisfies FlagSet;
export type BuildFlags = FlagValues<typeof BUILD_FLAGS>;

/** Adds the argument and flags `build` and `test` share. */
export function sharedBuildOptions(cmd: Command, extra: FlagSet = {}): Command {
  return addFlags(cmd.argument('<config>', 'a melange config (.yaml)'), { ...BUILD_FLAGS, ...extra });
}

/** A file a flag names, read now (before any daemon is contacted), as a usage error when bad. */
export function readInput<T>(flag: string, file: string, read: (f: string) => T): T {
  try {
    return read(file);
  } catch (e) {
    throw new CliError(`${flag} ${file}: ${(e as Error).message}`, EXIT.usage, { cause: e });
  }
}

/** Checks every input and turns the flags into what the engine needs for one arch (minus the client). */
export function commonRequest(config: string, flags: BuildFlags): Omit<CommonRequest, 'client' | 'arch'> {
  if (!existsSync(config) || !statSync(config).isFile())
    throw new CliError(`${config}: no such config file`, EXIT.usage);
  if (!flags.signingKey)
    throw new CliError('--signing-key is required (create one with `melange2-orch keygen`)', EXIT.usage);
  const envFiles = (flags.envFile ?? []).map((f) => readInput('--env-file', f, readEnvFile));
  const vars = flags.varsFile ? readInput('--vars-file', flags.varsFile, readVarsFile) : undefined;
  for (const d of [
    ...(flags.pipelineDir ?? []),
    ...(flags.cacheDir ? [flags.cacheDir] : []),
    ...(flags.gitMirror ? [flags.gitMirror] : []),
  ])
    if (!existsSync(d) || !statSync(d).isDirectory())
      throw new CliError(`${d}: no such directory`, EXIT.usage);
  return {
    configFile: resolve(config),
    ...(vars ? { vars } : {}),
    outDir: resolve(flags.outDir),
    signingKey: signingKeyFrom(flags.signingKey),
    repositoryAppend: flags.repositoryAppend ?? [],
    keyringAppend: flags.keyringAppend ?? [],
    ...(flags.pipelineDir?.length ? { pipelineDirs: flags.pipelineDir.map((d) => resolve(d)) } : {}),
    envFiles,
    ...(flags.buildOption?.length ? { buildOptions: flags.buildOption } : {}),
    ...(flags.sourceDateEpoch !== undefined ? { sourceDateEpoch: flags.sourceDateEpoch } : {}),
    ...(flags.apkCacheDir ? { cacheDir: resolve(flags.apkCacheDir) } : {}),
    ...(flags.cacheDir ? { buildCacheDir: resolve(flags.cacheDir) } : {}),
    ...(flags.gitMirror ? { gitMirror: resolve(flags.gitMirror) } : {}),
    ...(flags.stepGrouping ? { stepGrouping: flags.stepGrouping } : {}),
  };
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/**
 * Progress as the BuildKit client renders it (melange2's format), one renderer per arch; with
 * several arches every line is prefixed with `[arch]` and in-place updates are off.
 */
export function progressFor(
  arch: string,
  debug: boolean,
  multiArch: boolean,
): { renderer: ProgressRenderer; onEvent: (e: BuildEvent) => void } {
  const prefix = multiArch ? `[${arch}] ` : '';
  const out = {
    write: (s: string) => process.stderr.write(multiArch ? s.replace(/^(?=.)/gm, prefix) : s),
    isTTY: !multiArch && process.stderr.isTTY === true,
    columns: process.stderr.columns ?? 120,
  };
  // Steps that share one container (--step-grouping) are announced by a marker line each.
  const renderer = new ProgressRenderer({ out, debug, showLog: (l) => l.startsWith('[melange2] step ') });
  const onEvent = (e: BuildEvent) => {
    if (e.type === 'environment') out.write(`environment: ${e.packages.join(' ') || '(empty)'}\n`);
    else if (e.type === 'package') out.write(`wrote ${e.apk.path} (${e.apk.fileSize} bytes)\n`);
    else if (e.type === 'solve') {
      const hidden = e.event.type !== 'vertex.log' && e.event.vertex.name.startsWith('[internal]');
      if (debug || !hidden) renderer.onEvent(e.event);
    }
  };
  return { renderer, onEvent };
}

/** Prints a failed build for the user: located config errors, or the stage and message. */
export function reportFailure(e: BuildError): void {
  const diags = e.details.diagnostics ?? [];
  if (diags.length) for (const d of diags) process.stderr.write(`${formatDiagnostic(d)}\n`);
  else process.stderr.write(`melange2-orch: [${e.arch}] ${e.stage} failed: ${e.message}\n`);
}

export interface ArchOutcome<T> {
  readonly arch: string;
  readonly result?: T;
  readonly error?: BuildError;
}

/**
 * Prints what each arch came to: an arch the config does not target is a skip (as melange has
 * it), a failure is reported and sets the exit code, a success goes to `ok`.
 */
export function reportOutcomes<T>(
  outcomes: readonly ArchOutcome<T>[],
  ok: (arch: string, result: T) => void,
): void {
  let failed = false;
  for (const o of outcomes) {
    if (o.error?.details.notForArch) {
      process.stdout.write(`${o.arch}: skipped: ${o.error.message}\n`);
    } else if (o.error) {
      failed = true;
      reportFailure(o.error);
    } else {
      ok(o.arch, o.result as T);
    }
  }
  if (failed) process.exitCode = EXIT.failed;
}

/** Connects to each arch's daemon, runs `job` for every arch concurrently, closes the clients. */
export async function perArch<T>(
  config: string,
  flags: BuildFlags,
  job: (req: CommonRequest) => Promise<T>,
  summaryOf: (result: T) => SolveSummary | undefined = () => undefined,
): Promise<ArchOutcome<T>[]> {
  const arches = flags.arch;
  // Inputs first: a missing file is reported before a missing daemon.
  const common = commonRequest(config, flags);
  const addrs = buildkitAddresses(flags.buildkitAddr);
  const addrOf = new Map(arches.map((a) => [a, requireBuildkit(addrs, a)]));
  const tls = buildkitTls(flags);
  const base = arches.map((arch) => ({ ...common, arch }));
  const clients = new Map<string, BuildkitClient>();
  const layerHost = layerServerHost(flags.serveLayers, [...addrOf.values()]);
  const layerServer = layerHost ? await LayerServer.start({ host: layerHost }) : undefined;
  // Ctrl-C cancels the builds on the daemons instead of leaving them running.
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const a of arches) {
      try {
        clients.set(a, await BuildkitClient.connect(addrOf.get(a)!, tls ? { tls } : {}));
      } catch (e) {
        if (e instanceof ConnectError)
          throw new CliError(`buildkitd for ${a}: ${e.message}`, EXIT.environment, { cause: e });
        throw e;
      }
    }
    return await Promise.all(
      base.map(async (b) => {
        const { renderer, onEvent } = progressFor(b.arch, flags.debug, arches.length > 1);
        try {
          const result = await job({
            ...b,
            client: clients.get(b.arch)!,
            onEvent,
            signal: abort.signal,
            ...(layerServer ? { layerServer } : {}),
          });
          const summary = summaryOf(result);
          if (summary) renderer.finish(summary);
          else renderer.stop();
          return { arch: b.arch, result };
        } catch (e) {
          renderer.stop();
          if (e instanceof BuildError) return { arch: b.arch, error: e };
          throw e;
        }
      }),
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const c of clients.values()) c.close();
    await layerServer?.close();
  }
}

const BUILD_ONLY = { sourceDir: FLAGS.sourceDir, noGenerateIndex: FLAGS.noGenerateIndex } satisfies FlagSet;

export function registerBuild(program: Command): void {
  sharedBuildOptions(
    program
      .command('build')
      .description('build a melange config on BuildKit into signed APKs and an updated APKINDEX per arch'),
    BUILD_ONLY,
  ).action(async (config: string, _o: unknown, cmd: Command) => {
    const flags = readFlags(cmd, BUILD_FLAGS);
    const only = readFlags(cmd, BUILD_ONLY);
    if (only.sourceDir && !existsSync(only.sourceDir))
      throw new CliError(`--source-dir ${only.sourceDir}: no such directory`, EXIT.usage);
    const outcomes = await perArch(
      config,
      flags,
      (req) =>
        buildPackage({
          ...req,
          ...(only.sourceDir ? { sourceDir: resolve(only.sourceDir) } : {}),
          generateIndex: !only.noGenerateIndex,
        }),
      (r) => r.solve.summary,
    );
    reportOutcomes(outcomes, (arch, r) => {
      const s = r.solve.summary;
      process.stdout.write(
        `${arch}: built ${r.apks.map((a) => `${a.name}-${a.info.version}`).join(', ')} in ${secs(r.timings.totalMs)} ` +
          `(${s.total} steps, ${s.cached} cached, ${s.executed} executed; sent ${r.bytesSent} bytes${r.index ? `; index ${r.index}` : ''})\n`,
      );
    });
  });
}
