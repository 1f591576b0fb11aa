import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { buildkitAddresses, buildkitTls, BUILDKIT_TLS_FLAGS, requireBuildkit } from '../flags/buildkit.js';
import { addFlags, type FlagSet, readFlags, withDefault, withHelp } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { buildImages, IMAGE_KINDS, type ImageKind } from '../image/build.js';

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

export function registerImage(program: Command): void {
  const cmd = program.command('image').description('container images of melange2-orch');
  const BUILD = {
    arch: withDefault(FLAGS.arch, ['x86_64', 'aarch64']),
    image: withDefault(FLAGS.image, [...IMAGE_KINDS]),
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
    const addrs = buildkitAddresses(o.buildkitAddr);
    for (const a of o.arch) requireBuildkit(addrs, a);
    const tls = buildkitTls(o);
    const outDir = resolve(o.output);
    mkdirSync(outDir, { recursive: true });
    const version = (
      JSON.parse(readFileSync(join(ROOT, 'apps/cli/package.json'), 'utf8')) as { version: string }
    ).version;
    const tools = process.env['MELANGE2_TOOLS_DIR'];
    const built = await buildImages({
      root: ROOT,
      arches: o.arch,
      kinds: kinds(o.image),
      outDir,
      version,
      nodeVersion: process.versions.node,
      sourceDateEpoch: o.sourceDateEpoch ?? defaultEpoch(),
      buildkitAddr: (a) => requireBuildkit(addrs, a),
      ...(tls ? { tls } : {}),
      cacheDir: tools
        ? join(tools, 'image-inputs')
        : join(homedir(), '.cache', 'melange2-orch', 'image-inputs'),
      log: (l) => process.stderr.write(`${l}\n`),
    });
    for (const b of built)
      process.stdout.write(
        `${b.ref} ${b.arch} ${b.digest} ${(b.size / 1e6).toFixed(1)} MB ${b.file} (${b.seconds.toFixed(0)} s)\n`,
      );
  });
}
