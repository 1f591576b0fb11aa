/**
 * The no-op run: `melange2-orch build-all` of the whole Wolfi corpus (both arches) against an
 * out-dir whose APKINDEX already holds every config's version, so it reports 0 builds. Each
 * timing is a fresh process of the built CLI (apps/cli/bin, dist/: run `npx nx run-many -t build`
 * first), as a user runs it: cold (empty parse cache) and warm (parse cache filled by the cold
 * run), side by side with the scan alone (a process that only loads @melange2/depgraph and scans,
 * cold and warm) measured in the same run. Median of N runs each.
 *
 *   npm run bench -- noop-wolfi [runs=3]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
if (!import.meta.resolve('@melange2/coordinator').endsWith('.ts')) {
  const r = spawnSync(
    process.execPath,
    ['--conditions=@melange2/source', '--import', 'tsx', self, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exit(r.status ?? 1);
}

const { planWolfi, wolfiCorpus } = await import('./wolfi-lib.js');
const cli = fileURLToPath(new URL('../apps/cli/bin/melange2-orch.js', import.meta.url));
const depgraphDist = fileURLToPath(new URL('../libs/depgraph/dist/index.js', import.meta.url));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Wall time of a fresh process, and its stdout+stderr when it fails. */
function timed(args: string[], cwd: string): { ms: number; out: string } {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}${r.stdout}`);
  return { ms, out: `${r.stdout}${r.stderr}` };
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
    const rows: Record<string, number[]> = {
      'scan alone, cold': [],
      'build-all no-op, cold': [],
      'scan alone, warm': [],
      'build-all no-op, warm': [],
    };
    let summary = '';
    for (let i = 0; i < runs; i++) {
      const scanCache = join(work, `scan-cache-${i}`);
      const runCache = join(work, `run-cache-${i}`);
      rows['scan alone, cold']!.push(timed(scan(scanCache), work).ms);
      rows['scan alone, warm']!.push(timed(scan(scanCache), work).ms);
      const cold = timed(buildAll(runCache), work);
      rows['build-all no-op, cold']!.push(cold.ms);
      const warm = timed(buildAll(runCache), work);
      rows['build-all no-op, warm']!.push(warm.ms);
      summary = warm.out
        .split('\n')
        .filter((l) => /build\(s\)|built/.test(l))
        .join(' | ');
    }
    process.stdout.write(`  build-all says: ${summary}\n`);
    for (const [k, v] of Object.entries(rows))
      process.stdout.write(
        `  ${k.padEnd(24)} ${(median(v) / 1000).toFixed(2)}s  (${v.map((x) => (x / 1000).toFixed(2)).join(', ')})\n`,
      );
    const over = (a: string, b: string) => median(rows[a]!) - median(rows[b]!);
    process.stdout.write(
      `  build-all beyond the scan: cold ${(over('build-all no-op, cold', 'scan alone, cold') / 1000).toFixed(2)}s, warm ${(over('build-all no-op, warm', 'scan alone, warm') / 1000).toFixed(2)}s (targets: warm < 1 s, cold < 2 s in total)\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
