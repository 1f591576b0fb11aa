import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { llb } from '@melange2/buildkit';
import {
  type CompileOutcome,
  compileRepository,
  compileText,
  defaultPipelineDirs,
  type Diagnostic,
  formatDiagnostic,
  type GraphOptions,
  PipelineResolver,
  packageSourceDir,
  readEnvFile,
  SOURCE_LOCAL,
} from '@melange2/engine';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { type Arch, oneArch } from '../flags/arch.js';
import {
  addFlags,
  type FlagSet,
  type FlagValues,
  readFlags,
  withDefault,
  withHelp,
} from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { readInput } from './build.js';

const FLAG_SET = {
  arch: withDefault(FLAGS.arch, ['x86_64']),
  all: FLAGS.all,
  json: withHelp(FLAGS.json, 'print the compiled plan and the LLB ops as JSON instead of Definition bytes'),
  pipelineDir: FLAGS.pipelineDir,
  envFile: FLAGS.envFile,
  sourceDir: FLAGS.sourceDir,
  buildOption: FLAGS.buildOption,
  sourceDateEpoch: FLAGS.sourceDateEpoch,
  noWarnings: FLAGS.noWarnings,
} satisfies FlagSet;
type CompileFlags = FlagValues<typeof FLAG_SET> & { readonly arch1: Arch };

/** JSON for decoded ops: bytes as base64, 64-bit integers as strings. */
function jsonReplacer(_k: string, v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (typeof v === 'bigint') return v.toString();
  return v;
}

function printDiagnostics(ds: readonly Diagnostic[], warnings: boolean): void {
  for (const d of ds) {
    if (d.severity === 'warning' && !warnings) continue;
    process.stderr.write(`${formatDiagnostic(d)}\n`);
  }
}

function envFiles(flags: CompileFlags): Record<string, string>[] {
  return (flags.envFile ?? []).map((f) => readInput('--env-file', f, readEnvFile));
}

function compileAll(dir: string, flags: CompileFlags): void {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  const failures: CompileOutcome[] = [];
  const started = performance.now();
  const summary = compileRepository(dir, {
    arch: flags.arch1,
    ...(flags.pipelineDir ? { pipelineDirs: flags.pipelineDir.map((d) => resolve(d)) } : {}),
    parse: { envFiles: envFiles(flags) },
    onOutcome: (o) => {
      if (o.status === 'failed') {
        failures.push(o);
        out(`FAILED ${o.file}: ${o.reason}`);
      }
    },
  });
  const eligible = summary.total - summary.skipped;
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  out(
    `compiled ${summary.compiled}/${eligible} for ${flags.arch1} in ${secs}s` +
      (summary.skipped ? ` (${summary.skipped} not built for ${flags.arch1})` : ''),
  );
  if (summary.failed.length > 0) process.exitCode = EXIT.failed;
}

function compileOne(file: string, flags: CompileFlags): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`${file}: cannot read the config: ${(e as Error).message}`, EXIT.usage);
  }
  const dirs = flags.pipelineDir
    ? flags.pipelineDir.map((d) => resolve(d))
    : defaultPipelineDirs(dirname(file));
  let srcDir: string | undefined;
  const outcome = compileText(text, file, {
    arch: flags.arch1,
    resolver: new PipelineResolver(dirs),
    parse: { envFiles: envFiles(flags) },
    ...(flags.buildOption ? { buildOptions: flags.buildOption } : {}),
    ...(flags.sourceDateEpoch !== undefined ? { sourceDateEpoch: flags.sourceDateEpoch } : {}),
    // With a source tree (--source-dir, or <repo>/<package>/ as Wolfi keeps them) the graph copies it in.
    graph: (plan): GraphOptions => {
      srcDir = flags.sourceDir ?? packageSourceDir(file, plan.package.name);
      return srcDir ? { source: llb.local(SOURCE_LOCAL) } : {};
    },
  });
  if (outcome.status === 'skipped') throw new CliError(outcome.reason, EXIT.failed);
  if (outcome.status === 'failed') {
    printDiagnostics(outcome.diagnostics, true);
    process.exitCode = EXIT.failed;
    return;
  }
  const { plan, graph: built } = outcome;
  printDiagnostics(plan.warnings, !flags.noWarnings);
  if (flags.json) {
    const doc = {
      file,
      arch: plan.arch,
      package: plan.package,
      packages: plan.packages,
      skippedSubpackages: plan.skippedSubpackages,
      environment: plan.environment,
      steps: plan.steps.map((s) => ({ name: s.name, context: s.context, uses: s.uses, workdir: s.workdir })),
      ...(srcDir ? { sourceDir: srcDir } : {}),
      digest: built.definition.digest,
      ops: built.definition.ops(),
    };
    process.stdout.write(`${JSON.stringify(doc, jsonReplacer, 2)}\n`);
  } else {
    process.stdout.write(built.definition.toBytes());
  }
}

export function registerCompile(program: Command): void {
  const cmd = program
    .command('compile')
    .description(
      'compile a melange config to BuildKit LLB (Definition bytes on stdout, for `buildctl debug dump-llb`), or every config of a repository with --all',
    )
    .argument('<path>', 'a melange config (.yaml), or a repository directory with --all');
  addFlags(cmd, FLAG_SET).action((path: string, _o: unknown, c: Command) => {
    const given = readFlags(c, FLAG_SET);
    const flags: CompileFlags = { ...given, arch1: oneArch(given.arch, 'compile') };
    if (!existsSync(path)) throw new CliError(`${path}: no such file or directory`, EXIT.usage);
    const isDir = statSync(path).isDirectory();
    if (flags.all) {
      if (!isDir) throw new CliError(`--all needs a repository directory, got the file ${path}`, EXIT.usage);
      compileAll(path, flags);
      return;
    }
    if (isDir)
      throw new CliError(
        `${path} is a directory: give a config file, or --all to compile every config`,
        EXIT.usage,
      );
    compileOne(path, flags);
  });
}
