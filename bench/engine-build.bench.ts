// Real builds (issue 7): cold vs warm build time and bytes sent to the daemon, and packaging
// throughput. "Cold" is a private buildkitd started for this run with an empty package cache;
// "warm" repeats the build, then builds a different package that shares the environment.
// Packaging is measured on a synthetic melange-out tree against plain zlib gzip of the same bytes
// (the reference, in the same run).
// Options: --arch x86_64|aarch64 (default x86_64), --mb N packaging tree size (default 64).
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { BuildkitClient } from '@melange2/buildkit';
import { startBuildkitd } from '@melange2/daemons';
import { type BuildResult, buildPackage, LayerServer } from '@melange2/engine';
import { packageOutputs, planBuild } from '@melange2/engine/internal';
import { bootstrap } from '../libs/engine/test/build/bootstrap.js';
import { libmarkerSource } from '../libs/engine/test/build/helpers.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}
const arch = arg('arch', 'x86_64') as 'x86_64' | 'aarch64';
const mb = Number(arg('mb', '64'));
const testdata = join(import.meta.dirname, '..', 'testdata', 'engine-build');
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const work = mkdtempSync(join(tmpdir(), 'm2-bench-engine-'));
const daemon = await startBuildkitd({
  platform: arch === 'x86_64' ? 'linux/amd64' : 'linux/arm64',
  stateDir: join(work, 'buildkitd'),
  debug: false,
});
try {
  const b = await bootstrap();
  const client = await BuildkitClient.connect(daemon.address);
  const out = join(work, 'packages');
  const build = (name: string, o = out): Promise<BuildResult> =>
    buildPackage({
      configFile: join(testdata, `${name}.yaml`),
      arch,
      client,
      outDir: o,
      signingKey: b.signingKey,
      repositoryAppend: [b.repo],
      cacheDir: join(work, 'apk-cache'),
      sourceDateEpoch: 1700000000,
    });
  const line = (label: string, r: BuildResult) => {
    const su = r.solve.summary;
    process.stdout.write(
      `${label.padEnd(44)} ${s(r.timings.totalMs).padStart(8)}  sent ${kb(r.bytesSent).padStart(11)}  ` +
        `steps ${su.total} (${su.cached} cached)  env ${s(r.timings.environmentMs)} solve ${s(r.timings.solveMs)} package ${s(r.timings.packageMs)}\n`,
    );
  };
  process.stdout.write(`engine-build on a private ${arch} buildkitd (${daemon.address})\n`);
  const cold = await build('hello');
  line('cold build of hello (empty daemon and cache)', cold);
  const warm = await build('hello', join(work, 'packages-2'));
  line('warm rebuild of hello (unchanged)', warm);
  const other = await build('badtest');
  line('warm build of badtest (shares the environment)', other);
  // A package with 1 MiB of its own sources, on the same (warm) environment.
  const src = libmarkerSource(join(work, 'src-libmarker'), arch);
  writeFileSync(join(src, 'payload.bin'), randomBytes(1 << 20));
  const withSources = await buildPackage({
    configFile: join(testdata, 'libmarker.yaml'),
    arch,
    client,
    outDir: out,
    signingKey: b.signingKey,
    repositoryAppend: [b.repo],
    cacheDir: join(work, 'apk-cache'),
    sourceDateEpoch: 1700000000,
    sourceDir: src,
  });
  line('warm build of libmarker (1 MiB of sources)', withSources);
  process.stdout.write(
    `warm/cold time: ${((warm.timings.totalMs / cold.timings.totalMs) * 100).toFixed(1)} %` +
      `   bytes sent warm/cold: ${kb(warm.bytesSent)} / ${kb(cold.bytesSent)} = ${((warm.bytesSent / cold.bytesSent) * 100).toFixed(2)} %` +
      `   other package: ${kb(other.bytesSent)}\n`,
  );
  // The same with the environment served over HTTP (keyed by datahash): different layer digests,
  // so the first build runs every step again and the daemon fetches busybox once.
  const server = await LayerServer.start();
  const viaHttp = (name: string, o: string) =>
    buildPackage({
      configFile: join(testdata, `${name}.yaml`),
      arch,
      client,
      outDir: o,
      signingKey: b.signingKey,
      repositoryAppend: [b.repo],
      cacheDir: join(work, 'apk-cache'),
      sourceDateEpoch: 1700000000,
      layerServer: server,
    });
  const hCold = await viaHttp('hello', join(work, 'packages-h1'));
  line('HTTP layers: first build of hello', hCold);
  const hWarm = await viaHttp('hello', join(work, 'packages-h2'));
  line('HTTP layers: warm rebuild of hello', hWarm);
  const hOther = await viaHttp('badtest', join(work, 'packages-h1'));
  line('HTTP layers: warm build of badtest', hOther);
  process.stdout.write(
    `HTTP warm/first time: ${((hWarm.timings.totalMs / hCold.timings.totalMs) * 100).toFixed(1)} %   ` +
      `warm rebuild: HTTP ${s(hWarm.timings.totalMs)} (${kb(hWarm.bytesSent)}) vs local ${s(warm.timings.totalMs)} (${kb(warm.bytesSent)})\n`,
  );
  await server.close();
  client.close();

  // Packaging throughput: a melange-out tree of half random, half repetitive text data.
  const { parsed, plan } = planBuild({
    configFile: join(testdata, 'hello.yaml'),
    arch,
    client,
    outDir: out,
    signingKey: b.signingKey,
    sourceDateEpoch: 1700000000,
  });
  const mo = join(work, 'melange-out');
  const files: string[] = [];
  const text = Buffer.from('lorem ipsum dolor sit amet, consectetur adipiscing elit '.repeat(20_000));
  for (const p of plan.packages) mkdirSync(join(mo, p, 'usr/share/data'), { recursive: true });
  for (let i = 0; i < mb; i++) {
    const f = join(mo, 'hello', 'usr/share/data', `f${i}`);
    writeFileSync(f, i % 2 === 0 ? randomBytes(1 << 20) : text.subarray(0, 1 << 20));
    files.push(f);
  }
  const t0 = performance.now();
  const apks = await packageOutputs({
    parsed,
    plan,
    melangeOut: mo,
    outDir: join(work, 'pack-out'),
    signingKey: b.signingKey,
  });
  const packMs = performance.now() - t0;
  const t1 = performance.now();
  let gz = 0;
  for (const f of files)
    await pipeline(
      createReadStream(f),
      createGzip({ level: 6 }),
      new Writable({
        write(c: Buffer, _e, cb) {
          gz += c.length;
          cb();
        },
      }),
    );
  const refMs = performance.now() - t1;
  const size = apks.reduce((n, a) => n + a.fileSize, 0);
  process.stdout.write(
    `packaging ${mb} MiB (${plan.packages.length} packages, SCA + tar + gzip + sign): ${s(packMs)} = ${(packMs / mb).toFixed(1)} ms/MiB, ${(mb / (packMs / 1000)).toFixed(1)} MiB/s (apks ${kb(size)})\n` +
      `reference: zlib gzip -6 of the same files: ${s(refMs)} = ${(refMs / mb).toFixed(1)} ms/MiB (${kb(gz)}); packaging/reference = ${(packMs / refMs).toFixed(2)}×\n`,
  );
  rmSync(b.dir, { recursive: true, force: true });
} finally {
  await daemon.stop();
  rmSync(work, { recursive: true, force: true });
}
