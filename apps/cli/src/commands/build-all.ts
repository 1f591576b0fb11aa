import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type SigningKey, writeKeyPair } from '@melange2/apk';
import { ConnectError } from '@melange2/buildkit';
import {
  ARCH_PLATFORMS,
  type Arch,
  DEFAULT_STATE_DIR,
  localSetStatus,
  type RunningBuildkitd,
  startBuildkitd,
} from '@melange2/daemons';
import type { Command } from 'commander';
import { progressLines, summaryTable } from '../display.js';
import { runEmbedded } from '../embedded.js';
import { PlanError } from '@melange2/coordinator';
import type { Ordering } from '@melange2/coordinator';
import { startTelemetry } from '../telemetry/index.js';
import { CliError, EXIT } from '../exit-codes.js';
import { collectRepeat, signingKeyFrom } from './apk-options.js';
import { parseArchList } from './depgraph-shared.js';

export interface RunFlags {
  arch: string;
  signingKey?: string;
  repositoryAppend: string[];
  keyringAppend: string[];
  changedSince?: string;
  withDependents?: boolean | string;
  retryFailed?: boolean;
  order: string;
  parseCache: boolean;
}

interface BuildAllFlags extends RunFlags {
  out: string;
  jobs: string;
  buildkitAddr: string[];
  cacheDir?: string;
}

export const DEFAULT_KEY = '.melange2/melange.rsa';

/** Options `build-all` and `coordinator` share. */
export function runOptions(cmd: Command): Command {
  return cmd
    .argument('<repo>', 'directory of melange configs (and pipelines/)')
    .option('--arch <list>', 'architectures, comma-separated', 'x86_64,aarch64')
    .option(
      '--signing-key <key>',
      `RSA key that signs packages and indexes (default ${DEFAULT_KEY}, created when missing)`,
    )
    .option(
      '--repository-append <repo>',
      'extra repository for the build environments (repeatable)',
      collectRepeat,
      [],
    )
    .option(
      '--keyring-append <key>',
      'extra trusted public key for those repositories (repeatable)',
      collectRepeat,
      [],
    )
    .option(
      '--changed-since <ref>',
      'only configs changed since this git ref (and what is not published yet)',
    )
    .option(
      '--with-dependents [all]',
      'also rebuild what depends on the selection; a dependent whose rebuilt deps provide the same names as before is cut off, unless "all"',
    )
    .option('--retry-failed', 'build again packages that failed before with the same config')
    .option('--order <order>', 'ready builds by critical-path or fifo', 'critical-path')
    .option('--no-parse-cache', 'parse every config again (do not use .melange2/cache)');
}

/** `--with-dependents` → whether to add dependents, and whether early cutoff applies. */
export function dependentsOf(v: boolean | string | undefined): { withDependents?: true; earlyCutoff?: true } {
  if (v === undefined || v === false) return {};
  if (v === true) return { withDependents: true, earlyCutoff: true };
  if (v === 'all') return { withDependents: true };
  throw new CliError(`--with-dependents: expected nothing or "all", got "${v}"`, EXIT.usage);
}

export function orderingOf(v: string): Ordering {
  if (v !== 'critical-path' && v !== 'fifo')
    throw new CliError(`--order: expected critical-path or fifo, got "${v}"`, EXIT.usage);
  return v;
}

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
 * A buildkitd per arch: `--buildkit-addr [ARCH=]ADDR`, then $BUILDKIT_ADDR_<ARCH>, then the
 * daemons of `melange2-orch daemons up` when they run, else a private one for this run.
 */
export function daemonResolver(flags: readonly string[], say: (s: string) => void) {
  const started: RunningBuildkitd[] = [];
  const perArch = new Map<string, string>();
  let all: string | undefined;
  for (const f of flags) {
    const m = /^([a-z0-9_]+)=(.+)$/.exec(f);
    if (m) perArch.set(m[1]!, m[2]!);
    else all = f;
  }
  return {
    async address(arch: Arch): Promise<string> {
      const given = perArch.get(arch) ?? all ?? process.env[`BUILDKIT_ADDR_${arch.toUpperCase()}`];
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

export function registerBuildAll(program: Command): void {
  runOptions(
    program
      .command('build-all')
      .description(
        'build every config of a repository that is not published yet, dependencies first, into signed APKs and APKINDEX per arch (one machine)',
      ),
  )
    .option('--out <dir>', 'the repository packages are published to: <out>/<arch>/', 'packages')
    .option('-j, --jobs <n>', 'concurrent builds per arch', '2')
    .option(
      '--buildkit-addr <addr>',
      'buildkitd address, or ARCH=ADDR per arch (repeatable)',
      collectRepeat,
      [],
    )
    .option('--cache-dir <dir>', 'package cache (default ~/.cache/melange2-orch/apk)')
    .action(async (repo: string, flags: BuildAllFlags) => {
      const arches = parseArchList(flags.arch);
      const jobs = Number(flags.jobs);
      if (!Number.isInteger(jobs) || jobs < 1)
        throw new CliError('--jobs: expected a whole number ≥ 1', EXIT.usage);
      if (!existsSync(repo)) throw new CliError(`${repo}: no such repository directory`, EXIT.usage);
      const ordering = orderingOf(flags.order);
      const say = (s: string) => process.stderr.write(`${s}\n`);
      const { key } = await signingKeyOrDefault(flags.signingKey, say);
      const telemetry = startTelemetry({ serviceName: 'melange2-orch' });
      const daemons = daemonResolver(flags.buildkitAddr, say);
      let progress: ((e: Parameters<ReturnType<typeof progressLines>>[0]) => void) | undefined;
      try {
        const result = await runEmbedded({
          repo,
          arches,
          outDir: flags.out,
          signingKey: key,
          buildkitAddress: (a) => daemons.address(a),
          jobs,
          repositoryAppend: flags.repositoryAppend.map((r) => (/^https?:/.test(r) ? r : resolve(r))),
          keyringAppend: flags.keyringAppend.map((k) => (/^https?:/.test(k) ? k : resolve(k))),
          ...(flags.changedSince !== undefined ? { changedSince: flags.changedSince } : {}),
          ...dependentsOf(flags.withDependents),
          ...(flags.retryFailed ? { retryFailed: true } : {}),
          ...(flags.cacheDir ? { apkCacheDir: resolve(flags.cacheDir) } : {}),
          cacheDir: flags.parseCache ? '.melange2/cache' : false,
          ordering,
          onPlan: (plan, runId, resumed) => {
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
        const bad = result.rows.some((r) => r.state !== 'succeeded') || result.problems.length > 0;
        if (bad) process.exitCode = EXIT.failed;
      } catch (e) {
        if (e instanceof PlanError) throw new CliError(e.message, EXIT.usage);
        if (e instanceof ConnectError) throw new CliError(e.message, EXIT.environment);
        throw e;
      } finally {
        await daemons.stop();
        await telemetry.shutdown();
      }
    });
}
