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
import { formatDiagnostic, readVarsFile, SUPPORTED_ARCHES } from '@melange2/melange';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { signingKeyFrom } from './apk-options.js';

/** Repeatable flag without a default (so --help shows none). */
const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Flags `build` and `test` share, named as melange names them. */
export interface BuildFlags {
  arch: string;
  buildkitAddr?: string[];
  outDir?: string;
  out?: string;
  signingKey?: string;
  repositoryAppend?: string[];
  keyringAppend?: string[];
  pipelineDir?: string[];
  envFile?: string[];
  sourceDir?: string;
  buildOption?: string[];
  sourceDateEpoch?: string;
  apkCacheDir?: string;
  debug?: boolean;
  serveLayers?: string | boolean;
  varsFile?: string;
  generateIndex?: boolean;
}

/** Adds the flags `build` and `test` share. */
export function sharedBuildOptions(cmd: Command): Command {
  return cmd
    .argument('<config>', 'a melange config (.yaml)')
    .option('--arch <archs>', `architectures, comma-separated (${SUPPORTED_ARCHES.join(', ')})`, 'x86_64')
    .option(
      '--buildkit-addr <addr>',
      'buildkitd address, or ARCH=ADDR per architecture (repeatable; default $BUILDKIT_ADDR_<ARCH>, then $BUILDKIT_HOST)',
      collect,
    )
    .option('--out-dir <dir>', 'output repository: packages go to <dir>/<arch>/ (default ./packages)')
    .option('--out <dir>', 'same as --out-dir')
    .option('--signing-key <key>', 'RSA private key that signs the packages and the index (e.g. melange.rsa)')
    .option('-r, --repository-append <repo>', 'extra repository for the environment (repeatable)', collect)
    .option(
      '-k, --keyring-append <key>',
      'extra trusted public key, file, directory or URL (repeatable)',
      collect,
    )
    .option(
      '--pipeline-dir <dir>',
      'directory of `uses:` pipelines before the built-ins (repeatable; default <config dir>/pipelines)',
      collect,
    )
    .option('--env-file <file>', 'KEY=VALUE file layered under environment.environment (repeatable)', collect)
    .option('--build-option <name>', 'enable a build option of the config (repeatable)', collect)
    .option('--vars-file <file>', "YAML mapping merged over the config's vars")
    .option('--source-date-epoch <seconds>', 'SOURCE_DATE_EPOCH (default $SOURCE_DATE_EPOCH, else 315532800)')
    .option(
      '--apk-cache-dir <dir>',
      'cache of fetched and extracted packages (default ~/.cache/melange2-orch/apk)',
    )
    .option('--debug', 'show every step and its log lines as they come')
    .option(
      '--serve-layers [host]',
      'send environment packages over HTTP from this host (default 127.0.0.1), keyed by content: a package the daemon has seen is never sent again (the daemon must reach the host)',
    );
}

export function archesOf(flag: string): string[] {
  const arches = [
    ...new Set(
      flag
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean),
    ),
  ];
  if (arches.length === 0) throw new CliError('--arch: give at least one architecture', EXIT.usage);
  for (const a of arches)
    if (!SUPPORTED_ARCHES.includes(a))
      throw new CliError(
        `--arch: unknown architecture "${a}" (expected one of: ${SUPPORTED_ARCHES.join(', ')})`,
        EXIT.usage,
      );
  return arches;
}

/** The daemon address per arch: `--buildkit-addr ARCH=ADDR`, a bare `ADDR` for all, then env. */
export function addressesFor(arches: readonly string[], flags: readonly string[]): Map<string, string> {
  const perArch = new Map<string, string>();
  let all: string | undefined;
  for (const f of flags) {
    const m = /^([a-z0-9_]+)=(.+)$/.exec(f);
    if (m && SUPPORTED_ARCHES.includes(m[1]!)) perArch.set(m[1]!, m[2]!);
    else all = f;
  }
  const out = new Map<string, string>();
  for (const a of arches) {
    const addr =
      perArch.get(a) ??
      all ??
      process.env[`BUILDKIT_ADDR_${a.toUpperCase()}`] ??
      process.env['BUILDKIT_HOST'];
    if (!addr)
      throw new CliError(
        `no buildkitd for ${a}: give --buildkit-addr ${a}=ADDR (or set BUILDKIT_ADDR_${a.toUpperCase()}; \`melange2-orch daemons up\` starts one)`,
        EXIT.usage,
      );
    out.set(a, addr);
  }
  return out;
}

/** Turns the flags into what the engine needs for one arch (minus the client). */
export function commonRequest(
  config: string,
  arch: string,
  flags: BuildFlags,
): Omit<CommonRequest, 'client'> {
  if (!existsSync(config) || !statSync(config).isFile())
    throw new CliError(`${config}: no such config file`, EXIT.usage);
  if (!flags.signingKey)
    throw new CliError('--signing-key is required (create one with `melange2-orch keygen`)', EXIT.usage);
  if (flags.sourceDateEpoch !== undefined && !/^\d+$/.test(flags.sourceDateEpoch))
    throw new CliError(
      `--source-date-epoch: expected seconds since 1970, got "${flags.sourceDateEpoch}"`,
      EXIT.usage,
    );
  const envFiles = (flags.envFile ?? []).map((f) => {
    try {
      return readEnvFile(f);
    } catch (e) {
      throw new CliError(`--env-file ${f}: ${(e as Error).message}`, EXIT.usage);
    }
  });
  let vars: Record<string, string> | undefined;
  if (flags.varsFile) {
    try {
      vars = readVarsFile(flags.varsFile);
    } catch (e) {
      throw new CliError(`--vars-file ${(e as Error).message}`, EXIT.usage);
    }
  }
  return {
    configFile: resolve(config),
    ...(vars ? { vars } : {}),
    arch,
    outDir: resolve(flags.outDir ?? flags.out ?? 'packages'),
    signingKey: signingKeyFrom(flags.signingKey),
    repositoryAppend: flags.repositoryAppend ?? [],
    keyringAppend: flags.keyringAppend ?? [],
    ...(flags.pipelineDir?.length ? { pipelineDirs: flags.pipelineDir.map((d) => resolve(d)) } : {}),
    envFiles,
    ...(flags.buildOption?.length ? { buildOptions: flags.buildOption } : {}),
    ...(flags.sourceDateEpoch !== undefined ? { sourceDateEpoch: Number(flags.sourceDateEpoch) } : {}),
    ...(flags.apkCacheDir ? { cacheDir: resolve(flags.apkCacheDir) } : {}),
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
  const renderer = new ProgressRenderer({ out, debug });
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
  const arches = archesOf(flags.arch);
  const addrs = addressesFor(arches, flags.buildkitAddr ?? []);
  const base = arches.map((a) => commonRequest(config, a, flags));
  const clients = new Map<string, BuildkitClient>();
  const host = typeof flags.serveLayers === 'string' ? flags.serveLayers : '127.0.0.1';
  const layerServer = flags.serveLayers ? await LayerServer.start({ host }) : undefined;
  // Ctrl-C cancels the builds on the daemons instead of leaving them running.
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (const a of arches) {
      try {
        clients.set(a, await BuildkitClient.connect(addrs.get(a)!));
      } catch (e) {
        if (e instanceof ConnectError)
          throw new CliError(`buildkitd for ${a}: ${e.message}`, EXIT.environment);
        throw e;
      }
    }
    return await Promise.all(
      base.map(async (b) => {
        const { renderer, onEvent } = progressFor(b.arch, flags.debug ?? false, arches.length > 1);
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

export function registerBuild(program: Command): void {
  sharedBuildOptions(
    program
      .command('build')
      .description('build a melange config on BuildKit into signed APKs and an updated APKINDEX per arch'),
  )
    .option(
      '--source-dir <dir>',
      'source tree copied into /home/build (default <config dir>/<package>/ when it exists)',
    )
    .option('--no-generate-index', 'do not add the packages to <out-dir>/<arch>/APKINDEX.tar.gz')
    .action(async (config: string, flags: BuildFlags) => {
      const outcomes = await perArch(
        config,
        flags,
        (req) =>
          buildPackage({
            ...req,
            ...(flags.sourceDir ? { sourceDir: resolve(flags.sourceDir) } : {}),
            generateIndex: flags.generateIndex !== false,
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
