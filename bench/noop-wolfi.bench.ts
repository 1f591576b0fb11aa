/**
 * The no-op run: `melange2-orch build-all` of the whole Wolfi corpus (both arches) against an
 * out-dir whose APKINDEX already holds every config's version, so it reports 0 builds. Each
 * timing is a fresh process of the built CLI (apps/cli/bin, dist/: run `npx nx run-many -t build`
 * first), as a user runs it: cold (empty parse cache) and warm (parse cache filled by the cold
 * run), side by side with the scan alone (a process that only loads @melange2/depgraph and scans,
 * cold and warm) measured in the same run. Median of N runs each, as wall time and as CPU time
 * (user + system of every thread, which a loaded machine does not inflate as it does wall time).
 *
 *   npm run bench -- noop-wolfi [runs=3]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOnSources } from './on-sources.ts';

const self = fileURLToPath(import.meta.url);
runOnSources(self, '@melange2/coordinator');

const { planWolfi, wolfiCorpus } = await import('./wolfi-lib.js');
const cli = fileURLToPath(new URL('../apps/cli/bin/melange2-orch.js', import.meta.url));
const depgraphDist = fileURLToPath(new URL('../libs/depgraph/dist/index.js', import.meta.url));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Preloaded into each timed process: writes its CPU time (ms, all threads) to $M2_CPU_OUT at exit. */
const cpuProbe = `data:text/javascript,${encodeURIComponent(
  "import{writeFileSync}from'node:fs';process.on('exit',()=>{const u=process.cpuUsage();writeFileSync(process.env.M2_CPU_OUT,String((u.user+u.system)/1000))})",
)}`;

interface Timing {
  ms: number;
  cpuMs: number;
}

/** Wall and CPU time of a fresh process, and its stdout+stderr (thrown when it fails). */
function timed(args: string[], cwd: string): Timing & { out: string } {
  const cpuOut = join(cwd, 'cpu-ms');
  const t = performance.now();
  const r = spawnSync(process.execPath, ['--import', cpuProbe, ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, M2_CPU_OUT: cpuOut },
  });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return { ms, cpuMs: Number(readFileSync(cpuOut, 'utf8')), out: `${r.stdout}${r.stderr}` };
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 3);
  if (!existsSync(wolfiCorpus)) {
    process.stdout.write(`noop-wolfi: skipped, no corpus at ${wolfiCorpus}\n`);
    return;
  }
  if (!existsSync(join(cli, '../../dist/index.js')) || !existsSync(depgraphDist)) {
    process.stdout.write('noop-wolfi: skipped, build first (npx nx run-many -t build)\n');
    return;
  }
  const { buildIndexArchive, generateKeyPair } = await import('@melange2/apk');
  const work = mkdtempSync(join(tmpdir(), 'm2-noop-'));
  try {
    // The index holding everything: one entry per planned build, per arch.
    const plan = await planWolfi();
    const out = join(work, 'out');
    for (const arch of ['x86_64', 'aarch64']) {
      const entries = plan.builds
        .filter((b) => b.arch === arch)
        .map((b) => ({
          name: b.name,
          version: b.version,
          arch,
          size: 1,
          depends: [],
          provides: [],
          replaces: [],
          installIf: [],
          triggers: [],
          checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
          fileSize: 1,
        }));
      mkdirSync(join(out, arch), { recursive: true });
      writeFileSync(join(out, arch, 'APKINDEX.tar.gz'), buildIndexArchive({ description: 'noop', entries }));
    }
    const kp = await generateKeyPair(2048);
    const key = join(work, 'bench.rsa');
    writeFileSync(key, kp.privatePem);
    writeFileSync(`${key}.pub`, kp.publicPem);
    process.stdout.write(`wolfi: ${plan.builds.length} builds all published; ${runs} runs each, median\n`);

    const buildAll = (cache: string) => [
      cli,
      'build-all',
      wolfiCorpus,
      '--out-dir',
      out,
      '--arch',
      'x86_64,aarch64',
      '--signing-key',
      key,
      '--parse-cache-dir',
      cache,
    ];
    const scan = (cache: string) => [
      '--input-type=module',
      '-e',
      `const d = await import(${JSON.stringify(depgraphDist)}); await d.scanRepository(${JSON.stringify(wolfiCorpus)}, { cacheDir: ${JSON.stringify(cache)} });`,
    ];
    const rows: Record<string, Timing[]> = {
      'scan alone, cold': [],
      'build-all no-op, cold': [],
      'scan alone, warm': [],
      'build-all no-op, warm': [],
    };
    let summary = '';
    for (let i = 0; i < runs; i++) {
      const scanCache = join(work, `scan-cache-${i}`);
      const runCache = join(work, `run-cache-${i}`);
      rows['scan alone, cold']!.push(timed(scan(scanCache), work));
      rows['scan alone, warm']!.push(timed(scan(scanCache), work));
      rows['build-all no-op, cold']!.push(timed(buildAll(runCache), work));
      const warm = timed(buildAll(runCache), work);
      rows['build-all no-op, warm']!.push(warm);
      summary = warm.out
        .split('\n')
        .filter((l) => /build\(s\)|built/.test(l))
        .join(' | ');
    }
    process.stdout.write(`  build-all says: ${summary}\n`);
    const sec = (x: number) => `${(x / 1000).toFixed(2)}s`;
    const med = (k: string, f: keyof Timing) => median(rows[k]!.map((t) => t[f]));
    process.stdout.write(
      `  ${''.padEnd(24)} ${'wall'.padStart(6)} ${'cpu'.padStart(6)}  (wall/cpu of each run)\n`,
    );
    for (const [k, v] of Object.entries(rows))
      process.stdout.write(
        `  ${k.padEnd(24)} ${sec(med(k, 'ms')).padStart(6)} ${sec(med(k, 'cpuMs')).padStart(6)}  (${v.map((x) => `${sec(x.ms)}/${sec(x.cpuMs)}`).join(', ')})\n`,
      );
    const over = (a: string, b: string, f: keyof Timing) => sec(med(a, f) - med(b, f));
    for (const t of ['cold', 'warm'])
      process.stdout.write(
        `  build-all beyond the scan, ${t}: wall ${over(`build-all no-op, ${t}`, `scan alone, ${t}`, 'ms')}, cpu ${over(`build-all no-op, ${t}`, `scan alone, ${t}`, 'cpuMs')}\n`,
      );
    process.stdout.write('  (targets: warm < 1 s, cold < 2 s in total)\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
