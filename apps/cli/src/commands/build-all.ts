import { existsSync, mkdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type SigningKey, writeKeyPair } from '@melange2/apk';
import {
  ARCH_PLATFORMS,
  DEFAULT_STATE_DIR,
  localSetStatus,
  type RunningBuildkitd,
  startBuildkitd,
} from '@melange2/daemons';
import type { Command } from 'commander';
import { progressLines, summaryTable } from '../display.js';
import { runEmbedded } from '../embedded.js';
import { writeRunReport } from './run-report.js';
import { PlanError, RunMetrics } from '@melange2/coordinator';
import { DEFAULT_LOG_MAX_BYTES } from '@melange2/protocol';
import { startTelemetry } from '../telemetry/index.js';
import { CliError, EXIT } from '../exit-codes.js';
import type { Arch } from '../flags/arch.js';
import { BUILDKIT_TLS_FLAGS, buildkitAddresses, buildkitTls } from '../flags/buildkit.js';
import {
  addFlags,
  type FlagSet,
  type FlagValues,
  readFlags,
  withDefault,
  withHelp,
} from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { describeHolder, lockOutDir } from '../out-dir-lock.js';
import { signingKeyFrom } from './apk-options.js';
import { DEFAULT_PARSE_CACHE } from './depgraph-shared.js';

/** Flags `build-all` and `coordinator` share. */
export const RUN_FLAGS = {
  arch: withDefault(FLAGS.arch, ['x86_64', 'aarch64']),
  signingKey: withHelp(
    FLAGS.signingKey,
    'RSA key that signs packages and indexes (default .melange2/melange.rsa, created when missing)',
  ),
  repositoryAppend: FLAGS.repositoryAppend,
  keyringAppend: FLAGS.keyringAppend,
  changedSince: FLAGS.changedSince,
  withDependents: FLAGS.withDependents,
  retryFailed: FLAGS.retryFailed,
  order: withDefault(FLAGS.order, 'cp-mix'),
  noParseCache: FLAGS.noParseCache,
  // `--cache-dir` was the parse cache only for graph and plan; here it never was (build-all's is
  // melange's build cache), so it is no old spelling of this flag.
  parseCacheDir: { ...withDefault(FLAGS.parseCacheDir, DEFAULT_PARSE_CACHE), deprecated: [] },
} satisfies FlagSet;
export type RunFlags = FlagValues<typeof RUN_FLAGS>;

export const DEFAULT_KEY = '.melange2/melange.rsa';

/** The argument and flags `build-all` and `coordinator` share. */
export function runOptions(cmd: Command, extra: FlagSet): Command {
  return addFlags(cmd.argument('<repo>', 'directory of melange configs (and pipelines/)'), {
    ...RUN_FLAGS,
    ...extra,
  });
}

/** Checks the repository and the files the flags name, before any daemon or server is contacted. */
export function checkRunInputs(repo: string, flags: RunFlags): void {
  if (!existsSync(repo) || !statSync(repo).isDirectory())
    throw new CliError(`${repo}: no such repository directory`, EXIT.usage);
  if (flags.signingKey) signingKeyFrom(flags.signingKey);
  for (const r of [...(flags.repositoryAppend ?? []), ...(flags.keyringAppend ?? [])])
    if (!/^https?:/.test(r) && !existsSync(r))
      throw new CliError(`${r}: no such file or directory`, EXIT.usage);
}

/** A repository or key given on the command line, as the run needs it (URLs as they are). */
export const pathOrUrl = (p: string): string => (/^https?:/.test(p) ? p : resolve(p));

/** The signing key given, or the default one (created, and said so, when missing). */
export async function signingKeyOrDefault(
  flag: string | undefined,
  say: (s: string) => void,
): Promise<{ key: SigningKey; path: string }> {
  if (flag) return { key: signingKeyFrom(flag), path: resolve(flag) };
  const path = resolve(DEFAULT_KEY);
  if (!existsSync(path)) {
    mkdirSync(resolve('.melange2'), { recursive: true });
    await writeKeyPair(resolve('.melange2'), 'melange', { bits: 2048 });
    say(`created signing key ${DEFAULT_KEY} (public key ${DEFAULT_KEY}.pub)`);
  }
  return { key: signingKeyFrom(path), path };
}

/**
 * A buildkitd per arch: `--buildkit-addr`, `$BUILDKIT_ADDR_<ARCH>` or `$BUILDKIT_HOST` (as every
 * command), then the daemons of `melange2-orch daemons up` when they run, else a private one.
 */
export function daemonResolver(flags: readonly string[] | undefined, say: (s: string) => void) {
  const started: RunningBuildkitd[] = [];
  const addrs = buildkitAddresses(flags);
  return {
    async address(arch: Arch): Promise<string> {
      const given = addrs.of(arch);
      if (given) return given;
      const local = localSetStatus(resolve(DEFAULT_STATE_DIR)).buildkitd[arch];
      if (local?.alive) return local.record.address;
      say(
        `starting a private buildkitd for ${arch} (\`melange2-orch daemons up\` keeps them running between runs)`,
      );
      const d = await startBuildkitd({
        platform: ARCH_PLATFORMS[arch],
        stateDir: await mkdtemp(join(tmpdir(), `m2-bk-${arch}-`)),
      });
      started.push(d);
      return d.address;
    },
    async stop(): Promise<void> {
      // A private daemon's state goes with it (its cache would only fill /tmp).
      await Promise.all(
        started.map((d) => d.stop().then(() => rm(d.stateDir, { recursive: true, force: true }))),
      );
    },
  };
}

const BUILD_ALL_FLAGS = {
  outDir: withDefault(FLAGS.outDir, 'packages'),
  jobs: withDefault(FLAGS.jobs, '2'),
  buildkitAddr: FLAGS.buildkitAddr,
  ...BUILDKIT_TLS_FLAGS,
  apkCacheDir: FLAGS.apkCacheDir,
  cacheDir: FLAGS.cacheDir,
  gitMirror: FLAGS.gitMirror,
  serveLayers: FLAGS.serveLayers,
  noWait: FLAGS.noWait,
  logMaxBytes: withDefault(FLAGS.logMaxBytes, String(DEFAULT_LOG_MAX_BYTES)),
  logRetention: withDefault(FLAGS.logRetention, '20'),
  dashboard: FLAGS.dashboard,
} satisfies FlagSet;

export function registerBuildAll(program: Command): void {
  runOptions(
    program
      .command('build-all')
      .description(
        'build every config of a repository that is not published yet, dependencies first, into signed APKs and APKINDEX per arch (one machine)',
      ),
    BUILD_ALL_FLAGS,
  ).action(async (repo: string, _o: unknown, cmd: Command) => {
    const flags = readFlags(cmd, RUN_FLAGS);
    const own = readFlags(cmd, BUILD_ALL_FLAGS);
    checkRunInputs(repo, flags);
    if (own.cacheDir && !existsSync(own.cacheDir))
      throw new CliError(`--cache-dir ${own.cacheDir}: no such directory`, EXIT.usage);
    if (own.gitMirror && !existsSync(own.gitMirror))
      throw new CliError(`--git-mirror ${own.gitMirror}: no such directory`, EXIT.usage);
    const tls = buildkitTls(own);
    const arches = flags.arch;
    const say = (s: string) => process.stderr.write(`${s}\n`);
    const { key } = await signingKeyOrDefault(flags.signingKey, say);
    const lock = await lockOutDir(resolve(own.outDir), {
      wait: !own.noWait,
      onWait: (h, path) =>
        say(
          `waiting for ${path}: another build-all holds it (${describeHolder(h)}); --no-wait refuses instead`,
        ),
      onTakeover: (h, path) => say(`took over ${path}: its holder is gone (${describeHolder(h)})`),
    });
    const telemetry = await startTelemetry({ serviceName: 'melange2-orch' });
    const daemons = daemonResolver(own.buildkitAddr, say);
    let progress: ((e: Parameters<ReturnType<typeof progressLines>>[0]) => void) | undefined;
    let run: string | undefined;
    try {
      const result = await runEmbedded({
        repo,
        arches,
        outDir: own.outDir,
        signingKey: key,
        buildkitAddress: (a) => daemons.address(a),
        ...(tls ? { buildkitTls: tls } : {}),
        jobs: own.jobs,
        logMaxBytes: own.logMaxBytes,
        logRetention: { runs: own.logRetention },
        repositoryAppend: (flags.repositoryAppend ?? []).map(pathOrUrl),
        keyringAppend: (flags.keyringAppend ?? []).map(pathOrUrl),
        ...(flags.changedSince !== undefined ? { changedSince: flags.changedSince } : {}),
        ...flags.withDependents,
        ...(flags.retryFailed ? { retryFailed: true } : {}),
        ...(own.apkCacheDir ? { apkCacheDir: resolve(own.apkCacheDir) } : {}),
        ...(own.cacheDir ? { buildCacheDir: resolve(own.cacheDir) } : {}),
        ...(own.gitMirror ? { gitMirror: resolve(own.gitMirror) } : {}),
        ...(own.serveLayers ? { serveLayers: own.serveLayers } : {}),
        cacheDir: flags.noParseCache ? false : flags.parseCacheDir,
        ordering: flags.order,
        ...(own.dashboard
          ? {
              dashboard: own.dashboard,
              onDashboard: (url: string) => say(`dashboard at ${url}`),
              // The dashboard's server also serves /metrics and the build logs.
              metrics: new RunMetrics(),
            }
          : {}),
        onPlan: (plan, runId, resumed) => {
          run = runId;
          for (const p of plan.problems) say(`warning: left out: ${p}`);
          for (const c of plan.cycles) say(`cycle: ${c}`);
          say(
            `${resumed ? 'resuming' : 'run'} ${runId}: ${plan.builds.length} build(s) for ${arches.join(', ')}, ${plan.upToDate.length} up to date`,
          );
          progress = progressLines(plan.builds.length, say);
        },
        onEvent: (e) => progress?.(e),
        log: say,
      });
      process.stdout.write(summaryTable(result));
      if (run !== undefined) await writeRunReport(own.outDir, run, say);
      const bad = result.rows.some((r) => r.state !== 'succeeded') || result.problems.length > 0;
      if (bad) process.exitCode = EXIT.failed;
    } catch (e) {
      if (e instanceof PlanError) throw new CliError(e.message, EXIT.usage, { cause: e });
      // Only a failed build run has a BuildKit error: its module is loaded by then.
      const { ConnectError } = await import('@melange2/buildkit');
      if (e instanceof ConnectError) throw new CliError(e.message, EXIT.environment, { cause: e });
      throw e;
    } finally {
      await daemons.stop();
      await telemetry.shutdown();
      await lock.release();
    }
  });
}
