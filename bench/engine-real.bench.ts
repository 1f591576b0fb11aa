// Real packages on the real toolchain (issue 15): for each package, the project's build vs the
// very same compiled steps (fetch, configure, make, make install, strip, splits) run directly in
// a chroot of the same toolchain root, in the same run; then a warm rebuild of the unchanged
// package; and the fixed per-build cost (a build whose only step is `true`, on the same
// environment). Goals: cold ≤ 1.10× the chroot, fixed cost < 1 s, warm < 5 % of cold.
//
// Options: --packages zlib,lz4,json-c  --corpus DIR (default testdata/real-os)
//   --toolchain DIR (default $MELANGE2_TOOLS_DIR/real-toolchain: repo/<arch>/ and keys/*.pub,
//   made by scripts/bootstrap-toolchain)  --sources DIR (melange cache with sha256:<sum> files,
//   default $MELANGE2_TOOLS_DIR/real-sources, made by scripts/fetch-sources)
//   --serve-layers on|off (default on, as build-all)  --profile (per-vertex and per-step times)
//   --step-grouping step,pipeline,build (one or more: each package is built cold once per
//   grouping, see libs/engine/src/llb/groups.ts; default: the engine's default)
// The builds use a private buildkitd (x86_64) started for this run. Skips when the toolchain,
// the corpus or the sources are absent.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadSigningKey, writeKeyPair } from '@melange2/apk';
import { BuildkitClient } from '@melange2/buildkit';
import { startBuildkitd } from '@melange2/daemons';
import { type BuildResult, buildPackage, LayerServer, type StepGrouping } from '@melange2/engine';
import { planBuild, resolveEnvironment, stepScript } from '@melange2/engine/internal';
import { runOnSources } from './on-sources.js';

runOnSources(import.meta.filename, '@melange2/engine');

const arch = 'x86_64';
const root = resolve(import.meta.dirname, '..');
const tools = process.env['MELANGE2_TOOLS_DIR'] ?? join(root, '.tools');
function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}
const packages = arg('packages', 'zlib,lz4,json-c').split(',');
const corpus = resolve(arg('corpus', join(root, 'testdata', 'real-os')));
const toolchain = resolve(arg('toolchain', join(tools, 'real-toolchain')));
const sources = resolve(arg('sources', join(tools, 'real-sources')));
const serveLayers = arg('serve-layers', 'on') !== 'off';
const profile = process.argv.includes('--profile');
const groupings = arg('step-grouping', '')
  .split(',')
  .filter((g) => g !== '')
  .map((g) => {
    if (g !== 'step' && g !== 'pipeline' && g !== 'build') throw new Error(`--step-grouping: ${g}?`);
    return g as StepGrouping;
  });

function skip(why: string): never {
  process.stdout.write(`engine-real: skipped: ${why}\n`);
  process.exit(0);
}
const repo = join(toolchain, 'repo');
const keyPub = join(toolchain, 'keys');
if (
  !existsSync(join(repo, arch, 'APKINDEX.tar.gz')) ||
  !existsSync(keyPub) ||
  !readdirSync(keyPub).some((f) => f.endsWith('.pub'))
)
  skip(`no real toolchain at ${toolchain} (run scripts/bootstrap-toolchain)`);
for (const p of packages)
  if (!existsSync(join(corpus, `${p}.yaml`))) skip(`no ${p}.yaml in ${corpus} (--corpus DIR)`);
if (!existsSync(sources)) skip(`no source cache at ${sources} (run scripts/fetch-sources)`);

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const work = mkdtempSync(join(tmpdir(), 'm2-bench-real-'));
const { privatePath } = await writeKeyPair(work, 'bench', { bits: 2048 });
const signingKey = loadSigningKey(privatePath);
const apkCache = join(work, 'apk-cache');
const epoch = 1700000000;

const daemon = await startBuildkitd({ platform: 'linux/amd64', stateDir: join(work, 'bk'), debug: false });
const client = await BuildkitClient.connect(daemon.address);
const server = serveLayers ? await LayerServer.start() : undefined;
const request = (configFile: string, outDir: string) => ({
  configFile,
  arch,
  client,
  outDir,
  signingKey,
  repositoryAppend: [repo],
  keyringAppend: [keyPub],
  cacheDir: apkCache,
  buildCacheDir: sources,
  sourceDateEpoch: epoch,
  ...(server ? { layerServer: server } : {}),
});
const line = (label: string, r: BuildResult) =>
  process.stdout.write(
    `  ${label.padEnd(34)} ${s(r.timings.totalMs).padStart(9)}  (environment ${s(r.timings.environmentMs)}, solve ${s(r.timings.solveMs)}, package ${s(r.timings.packageMs)}; ` +
      `${r.solve.summary.total} steps, ${r.solve.summary.cached} cached; sent ${(r.bytesSent / 1024).toFixed(0)} KiB)\n`,
  );

/** The toolchain root the chroot runs in: the environment's packages installed as the build installs them. */
async function chrootRoot(configFile: string): Promise<{ dir: string; files: number }> {
  const { plan } = planBuild(request(configFile, join(work, 'plan-out')));
  const env = await resolveEnvironment({
    arch,
    packages: plan.environment.packages,
    repositories: [repo, ...plan.environment.repositories],
    keyring: [keyPub, ...plan.environment.keyring],
    cacheDir: apkCache,
  });
  const dir = join(work, 'chroot');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const p of env.packages) {
    const r = spawnSync('cp', ['-a', '--reflink=auto', `${p.tree}/.`, `${dir}/`]);
    if (r.status !== 0) throw new Error(`copying ${p.entry.name}: ${r.stderr}`);
  }
  for (const d of ['dev', 'proc', 'tmp', 'var/cache/melange', 'home/build'])
    mkdirSync(join(dir, d), { recursive: true });
  spawnSync('chmod', ['1777', join(dir, 'tmp')]);
  const files = Number(
    spawnSync('sh', ['-c', `find '${dir}' -xdev | wc -l`], { encoding: 'utf8' }).stdout.trim(),
  );
  return { dir, files };
}

/** The compiled steps of `configFile`, run one by one in the chroot as the build user: wall time, per step. */
function chrootBuild(configFile: string, dir: string): { ms: number; steps: { name: string; ms: number }[] } {
  const { plan } = planBuild(request(configFile, join(work, 'plan-out')));
  rmSync(join(dir, 'home', 'build'), { recursive: true, force: true });
  mkdirSync(join(dir, 'home', 'build'), { recursive: true });
  spawnSync('chown', ['-R', '1000:1000', join(dir, 'home', 'build')]);
  const t0 = performance.now();
  const steps: { name: string; ms: number }[] = [];
  for (const step of plan.steps) {
    const ts = performance.now();
    const mounts = [
      `mount --rbind /dev '${dir}/dev'`,
      `mount -t proc proc '${dir}/proc'`,
      `mount --bind -o ro '${sources}' '${dir}/var/cache/melange'`,
      `exec chroot --userspec=1000:1000 '${dir}' /bin/sh -c "$STEP"`,
    ].join(' && ');
    const r = spawnSync('unshare', ['--mount', '--pid', '--fork', 'sh', '-c', mounts], {
      env: { ...step.env, STEP: stepScript(step) },
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    if (r.status !== 0)
      throw new Error(`chroot step "${step.name}" exited ${r.status}:\n${(r.stderr ?? '').slice(-2000)}`);
    steps.push({ name: step.name, ms: performance.now() - ts });
  }
  return { ms: performance.now() - t0, steps };
}

/**
 * A build with its BuildKit vertices' durations (completed ones, in order); a group of steps
 * counts per step, from the timestamps of its step markers.
 */
async function profiled(configFile: string, outDir: string, grouping?: StepGrouping) {
  const vertices: { name: string; ms: number }[] = [];
  const marks = new Map<string, { name: string; at: number }[]>();
  const r = await buildPackage({
    ...request(configFile, outDir),
    ...(grouping ? { stepGrouping: grouping } : {}),
    onEvent: (e) => {
      if (e.type !== 'solve') return;
      const ev = e.event;
      if (
        ev.type === 'vertex.log' &&
        ev.line.startsWith('[melange2] step ') &&
        !ev.line.includes(' failed ')
      ) {
        const list = marks.get(ev.vertex.digest) ?? [];
        list.push({ name: ev.line.replace(/^\[melange2\] step \S+: /, ''), at: ev.timestamp.getTime() });
        marks.set(ev.vertex.digest, list);
      }
      if (ev.type !== 'vertex.completed') return;
      const m = marks.get(ev.vertex.digest);
      if (!m) {
        vertices.push({ name: ev.vertex.name, ms: ev.durationMs });
        return;
      }
      const end = ev.completed.getTime();
      for (const [i, x] of m.entries())
        vertices.push({ name: `(grouped) ${x.name}`, ms: (m[i + 1]?.at ?? end) - x.at });
    },
  });
  return { r, vertices };
}

const short = (n: string) => n.replace(/\s+/g, ' ').slice(0, 60);

/** What costs more in a container than in the chroot: process starts, compiler runs, directory lookups. */
const MICRO = [
  "cd /tmp; printf 'int f(void){return 1;}\\n' > t.c",
  't0=$(date +%s%N); i=0; while [ $i -lt 2000 ]; do /usr/bin/true; i=$((i+1)); done; t1=$(date +%s%N)',
  'i=0; while [ $i -lt 100 ]; do gcc -c t.c -o t.o; i=$((i+1)); done; t2=$(date +%s%N)',
  "i=0; while [ $i -lt 200 ]; do ls /usr/include >/dev/null; find /usr/lib -maxdepth 1 -name 'x*' >/dev/null; i=$((i+1)); done; t3=$(date +%s%N)",
  'echo "MICRO 2000 execs $(( (t1-t0)/1000000 )) ms, 100 gcc -c $(( (t2-t1)/1000000 )) ms, 200 directory listings $(( (t3-t2)/1000000 )) ms"',
];

/** A config with the environment of `configFile` and one step, `true` (plus a nonce). */
function trivialConfig(like: string, body: readonly string[] = [], stepsBefore = 0): string {
  const { plan } = planBuild(request(like, join(work, 'plan-out')));
  const file = join(work, 'trivial', `trivial-${randomBytes(4).toString('hex')}.yaml`);
  mkdirSync(join(work, 'trivial'), { recursive: true });
  writeFileSync(
    file,
    [
      'package:',
      '  name: trivial',
      '  version: 1.0.0',
      '  epoch: 0',
      '  description: the fixed cost of a build',
      'environment:',
      '  contents:',
      '    packages:',
      ...plan.environment.packages.map((p) => `      - ${p}`),
      'pipeline:',
      ...Array.from({ length: stepsBefore }, (_, i) => `  - runs: echo ${i} > /tmp/layer-${i}`),
      '  - runs: |',
      `      echo ${randomBytes(8).toString('hex')} >/dev/null`,
      ...body.map((l) => `      ${l}`),
      '',
    ].join('\n'),
  );
  return file;
}

try {
  process.stdout.write(
    `engine-real on a private ${arch} buildkitd; toolchain ${toolchain}; environment transfer: ${serveLayers ? 'served layers (HTTP)' : 'local sources'}\n`,
  );
  const first = join(corpus, `${packages[0]}.yaml`);
  process.stdout.write('fixed per-build cost (one `true` step, environment of the first package):\n');
  const envCold = await buildPackage(request(trivialConfig(first), join(work, 'out-trivial')));
  line('first build (cold daemon and cache)', envCold);
  const fixed: number[] = [];
  for (let i = 0; i < 5; i++) {
    const { r, vertices } = await profiled(trivialConfig(first), join(work, 'out-trivial'));
    line(`warm environment, new step #${i + 1}`, r);
    if (profile)
      for (const v of vertices) process.stdout.write(`    ran ${s(v.ms).padStart(8)}  ${short(v.name)}\n`);
    fixed.push(r.timings.totalMs);
  }
  const rows: { name: string; chroot: number; cold: number; warm: number }[] = [];
  let chroot: { dir: string; files: number } | undefined;
  for (const name of packages) {
    const file = join(corpus, `${name}.yaml`);
    process.stdout.write(`${name}:\n`);
    const measured: { label: string; cold: number; warm: number }[] = [];
    for (const grouping of groupings.length ? groupings : [undefined]) {
      const label = grouping ? `${name} (${grouping})` : name;
      const out = join(work, `out-${name}-${grouping ?? 'default'}`);
      const { r: cold, vertices } = await profiled(file, `${out}-1`, grouping);
      line(`project build (package cold${grouping ? `, ${grouping}` : ''})`, cold);
      const warm = await buildPackage({
        ...request(file, `${out}-2`),
        ...(grouping ? { stepGrouping: grouping } : {}),
      });
      line('warm rebuild (unchanged)', warm);
      measured.push({ label, cold: cold.timings.totalMs, warm: warm.timings.totalMs });
      if (profile) {
        const vsum = vertices.reduce((a, v) => a + v.ms, 0);
        process.stdout.write(
          `  profile: BuildKit vertices ${s(vsum)} summed over ${vertices.length} (solve ${s(cold.timings.solveMs)}):\n`,
        );
        for (const v of [...vertices].sort((a, b) => b.ms - a.ms).slice(0, 14))
          process.stdout.write(`    vertex ${s(v.ms).padStart(8)}  ${short(v.name)}\n`);
      }
    }
    chroot ??= await chrootRoot(file);
    const { ms, steps } = chrootBuild(file, chroot.dir);
    process.stdout.write(
      `  ${'same steps in a chroot'.padEnd(34)} ${s(ms).padStart(9)}  (${chroot.files} files in the root)\n`,
    );
    for (const m of measured) rows.push({ name: m.label, chroot: ms, cold: m.cold, warm: m.warm });
    if (profile)
      for (const st of steps) process.stdout.write(`    chroot ${s(st.ms).padStart(8)}  ${short(st.name)}\n`);
  }
  if (profile && chroot) {
    // The same micro steps as the first step, and after 15 steps (one exec each): each exec adds
    // an overlay layer below the next one's root.
    const micro = async (stepsBefore: number) => {
      let said = '';
      await buildPackage({
        ...request(trivialConfig(first, MICRO, stepsBefore), join(work, 'out-micro')),
        stepGrouping: 'step',
        onEvent: (e) => {
          if (e.type === 'solve' && e.event.type === 'vertex.log' && e.event.line.includes('MICRO '))
            said = e.event.line.slice(e.event.line.indexOf('MICRO '));
        },
      });
      return said.slice(6);
    };
    const said = await micro(0);
    const deep = await micro(15);
    const r = spawnSync(
      'unshare',
      [
        '--mount',
        '--pid',
        '--fork',
        'sh',
        '-c',
        `mount --rbind /dev '${chroot.dir}/dev' && mount -t proc proc '${chroot.dir}/proc' && exec chroot --userspec=1000:1000 '${chroot.dir}' /bin/sh -c "$STEP"`,
      ],
      {
        env: { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', STEP: MICRO.join('\n') },
        encoding: 'utf8',
      },
    );
    process.stdout.write(
      `micro: build step:      ${said}\n       after 15 steps: ${deep}\n       chroot:         ${r.stdout.trim().slice(6)}\n`,
    );
  }
  const w = Math.max(9, ...rows.map((r) => r.name.length));
  process.stdout.write(`\n${'package'.padEnd(w)} chroot     cold      warm     cold÷chroot  warm÷cold\n`);
  for (const r of rows)
    process.stdout.write(
      `${r.name.padEnd(w)} ${s(r.chroot).padStart(8)} ${s(r.cold).padStart(9)} ${s(r.warm).padStart(9)}   ${(r.cold / r.chroot).toFixed(2).padStart(8)}×   ${((r.warm / r.cold) * 100).toFixed(1).padStart(6)} %\n`,
    );
  for (const g of groupings.length ? groupings : [undefined]) {
    const mine = rows.filter((r) => g === undefined || r.name.endsWith(`(${g})`));
    const total = mine.reduce((a, r) => ({ c: a.c + r.cold, h: a.h + r.chroot }), { c: 0, h: 0 });
    process.stdout.write(
      `${`all${g ? ` (${g})` : ''}`.padEnd(w)} ${s(total.h).padStart(8)} ${s(total.c).padStart(9)}             ${(total.c / total.h).toFixed(2).padStart(8)}×   (goal ≤ 1.10×)\n`,
    );
  }
  process.stdout.write(
    `fixed per-build cost (median of 5, warm environment of ${chroot?.files ?? '?'} files): ${s(median(fixed))} (goal < 1 s); ` +
      `first build with a cold daemon: ${s(envCold.timings.totalMs)}\n` +
      `warm rebuild ÷ cold: goal < 5 %\n`,
  );
} finally {
  await server?.close();
  client.close();
  await daemon.stop();
  rmSync(work, { recursive: true, force: true });
}
