import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { buildkitAddresses, buildkitTls, BUILDKIT_TLS_FLAGS, requireBuildkit } from '../flags/buildkit.js';
import { addFlags, type FlagSet, readFlags, withDefault, withHelp } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { stageApp } from '../image/app.js';
import { buildImages, IMAGE_KINDS, type ImageKind, stageArchRuntime } from '../image/build.js';
import { checkDaemonsArch } from '../image/daemons.js';

/** The checkout this CLI runs from: its built workspace is what goes into the images. */
const ROOT = resolve(import.meta.dirname, '..', '..', '..', '..');

function kinds(words: readonly string[]): ImageKind[] {
  for (const w of words)
    if (!(IMAGE_KINDS as readonly string[]).includes(w))
      throw new CliError(`--image: unknown image "${w}" (expected ${IMAGE_KINDS.join(' or ')})`, EXIT.usage);
  return IMAGE_KINDS.filter((k) => words.includes(k));
}

/** SOURCE_DATE_EPOCH when given, else the time of the checkout's last commit, else 0. */
function defaultEpoch(): number {
  try {
    return (
      Number(execFileSync('git', ['-C', ROOT, 'log', '-1', '--format=%ct'], { encoding: 'utf8' }).trim()) || 0
    );
  } catch {
    return 0;
  }
}

/** Where the downloaded inputs (Node, Debian packages) are kept between builds. */
function inputsCache(): string {
  const tools = process.env['MELANGE2_TOOLS_DIR'];
  return tools ? join(tools, 'image-inputs') : join(homedir(), '.cache', 'melange2-orch', 'image-inputs');
}

export function registerImage(program: Command): void {
  const cmd = program.command('image').description('container images of melange2-orch');
  const BUILD = {
    arch: withDefault(FLAGS.arch, ['x86_64', 'aarch64']),
    image: withDefault(FLAGS.image, ['coordinator', 'agent']),
    output: withDefault(FLAGS.imageOutput, 'images'),
    buildkitAddr: withHelp(
      FLAGS.buildkitAddr,
      'buildkitd address, or ARCH=ADDR per architecture (repeatable)',
    ),
    sourceDateEpoch: withHelp(
      FLAGS.sourceDateEpoch,
      'SOURCE_DATE_EPOCH: timestamps in the images (default the last commit time)',
    ),
    ...BUILDKIT_TLS_FLAGS,
  } satisfies FlagSet;
  addFlags(
    cmd
      .command('build')
      .description(
        'build the coordinator and agent images as OCI archives, per arch, on buildkitd (from the built workspace; no base image)',
      ),
    BUILD,
  ).action(async (_o: unknown, c: Command) => {
    const o = readFlags(c, BUILD);
    const images = kinds(o.image);
    if (images.includes('daemons')) for (const a of o.arch) checkDaemonsArch(a);
    const addrs = buildkitAddresses(o.buildkitAddr);
    for (const a of o.arch) requireBuildkit(addrs, a);
    const tls = buildkitTls(o);
    const outDir = resolve(o.output);
    mkdirSync(outDir, { recursive: true });
    const version = (
      JSON.parse(readFileSync(join(ROOT, 'apps/cli/package.json'), 'utf8')) as { version: string }
    ).version;
    const built = await buildImages({
      root: ROOT,
      arches: o.arch,
      kinds: images,
      outDir,
      version,
      nodeVersion: process.versions.node,
      cacheDir: inputsCache(),
      sourceDateEpoch: o.sourceDateEpoch ?? defaultEpoch(),
      buildkitAddr: (a) => requireBuildkit(addrs, a),
      ...(tls ? { tls } : {}),
      log: (l) => process.stderr.write(`${l}\n`),
    });
    for (const b of built)
      process.stdout.write(
        `${b.ref} ${b.arch} ${b.digest} ${(b.size / 1e6).toFixed(1)} MB ${b.file} (${b.seconds.toFixed(0)} s)\n`,
      );
  });

  const STAGE = {
    arch: withHelp(FLAGS.arch, 'the one architecture to stage: x86_64 (amd64) or aarch64 (arm64)'),
    output: withHelp(FLAGS.imageOutput, 'directory to stage into'),
  } satisfies FlagSet;
  addFlags(
    cmd
      .command('stage')
      .description(
        "write an image's trees without BuildKit: <dir>/runtime (the image's /), <dir>/app (/app) and the empty <dir>/nonroot (/home/nonroot, owned by 65532); what deploy/images/Dockerfile copies",
      ),
    STAGE,
  ).action(async (_o: unknown, c: Command) => {
    const o = readFlags(c, STAGE);
    if (o.arch?.length !== 1) throw new CliError('--arch: give exactly one architecture', EXIT.usage);
    if (!o.output) throw new CliError('--output is required: the directory to stage into', EXIT.usage);
    const dest = resolve(o.output);
    await stageArchRuntime(
      { root: ROOT, nodeVersion: process.versions.node, cacheDir: inputsCache() },
      o.arch[0]!,
      join(dest, 'runtime'),
    );
    await stageApp(ROOT, join(dest, 'app'));
    mkdirSync(join(dest, 'nonroot'), { recursive: true, mode: 0o755 });
  });
}
