/**
 * The checking half of `scripts/test-real`: reads what the run built, runs the package checks,
 * installs everything together, compares the reproducibility rebuild, and prints the per-package
 * table (also `<out>/table.md` and `<out>/results.json`). Exit 0 when everything holds, 1 when a
 * build, test or check failed, 2 on bad arguments.
 *
 *   node --conditions=@melange2/source --import tsx test/real/src/main.ts \
 *     --arch x86_64 --repo testdata/real-os --out .melange2/real-os/x86_64 --toolchain DIR --toolchain-key FILE [--rebuilt zlib]
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { readApkHead } from '@melange2/apk';
import { type PackageContents, readPackage } from './apk-contents.js';
import { checkOrigin, checkPackage, type Finding } from './checks.js';
import { checkFreshDeps } from './fresh-deps.js';
import { installTogether } from './install.js';
import { buildRecords, parseTests } from './run-results.js';
import { renderTable, type Row } from './table.js';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      arch: { type: 'string' },
      repo: { type: 'string' },
      out: { type: 'string' },
      toolchain: { type: 'string' },
      'toolchain-key': { type: 'string' },
      rebuilt: { type: 'string' },
    },
  });
  const { arch, repo, out, toolchain, 'toolchain-key': toolchainKey } = values;
  if (!arch || !repo || !out || !toolchain || !toolchainKey) {
    process.stderr.write(
      'usage: main.ts --arch A --repo DIR --out DIR --toolchain DIR --toolchain-key FILE [--rebuilt NAME]\n',
    );
    return 2;
  }
  const pkgDir = join(out, 'packages', arch);
  const configs = (await readdir(repo)).filter((f) => f.endsWith('.yaml')).map((f) => basename(f, '.yaml'));
  const apks = (await readdir(pkgDir).catch(() => [] as string[])).filter((f) => f.endsWith('.apk')).sort();
  const contents: PackageContents[] = [];
  for (const f of apks) contents.push(await readPackage(join(pkgDir, f)));
  const byOrigin = new Map<string, PackageContents[]>();
  for (const c of contents) {
    const o = c.info.origin ?? c.info.name;
    byOrigin.set(o, [...(byOrigin.get(o) ?? []), c]);
  }

  const built = new Map(
    contents.map((c) => [c.info.name, { version: c.info.version, origin: c.info.origin ?? c.info.name }]),
  );
  const findings: Finding[] = [];
  for (const name of configs) {
    const text = await readFile(join(repo, `${name}.yaml`), 'utf8');
    const strips = /^\s*- uses: strip\s*$/m.test(text);
    const pkgs = byOrigin.get(name) ?? [];
    for (const p of pkgs) findings.push(...checkPackage(p, { strips }));
    findings.push(...checkOrigin(pkgs));
    if (pkgs.length) {
      const log = await readFile(join(out, 'logs', `${name}.log`), 'utf8').catch(() => undefined);
      findings.push(...checkFreshDeps(text, log, built));
    }
  }

  const { runId, builds } = await buildRecords(join(out, 'packages'), arch);
  const tests = parseTests(await readFile(join(out, 'tests.tsv'), 'utf8').catch(() => ''));

  const install = !contents.length
    ? ({ ok: false, error: 'nothing was built', unresolved: [] } as const)
    : await installTogether({
        arch,
        repositories: [join(out, 'packages'), join(toolchain, 'repo')],
        keys: [join(out, 'real-os.rsa.pub'), toolchainKey],
        world: contents.map((c) => c.info.name),
        cacheDir: join(out, 'apk-cache'),
        tmpDir: process.env['TMPDIR'] ?? tmpdir(),
      });

  const reproducible = values.rebuilt ? await compareRebuild(out, arch) : undefined;

  const rows: Row[] = configs.sort().map((name) => {
    const b = builds.get(name);
    const pkgs = byOrigin.get(name) ?? [];
    return {
      name,
      ...(b && { build: b }),
      packages: pkgs.map((p) => ({ name: p.info.name, bytes: p.apkSize })),
      ...(tests.has(name) && { test: tests.get(name)! }),
      findings: findings.filter((f) => pkgs.some((p) => p.info.name === f.package)),
    };
  });
  const table = renderTable(rows, { arch, ...(runId !== undefined && { runId }) });
  const notes = [
    install.ok
      ? `install together: ${install.installed} packages, ${install.files} entries into a fresh root with libs/apk`
      : `install together: FAILED: ${install.error}`,
    ...(install.ok
      ? install.foreign.map((f) => `  resolved elsewhere although the run provides it: ${f}`)
      : []),
    ...install.unresolved.map((u) => `  left out, a dependency has no provider: ${u}`),
    reproducible === undefined
      ? 'reproducibility: not checked'
      : reproducible.length
        ? `reproducibility: ${values.rebuilt} differs: ${reproducible.join(', ')}`
        : `reproducibility: ${values.rebuilt} rebuilt with every step re-run: identical .PKGINFO and data (and signed control but for .melange.yaml's extra variable)`,
  ];
  const text = `${table}\n${notes.join('\n')}\n`;
  process.stdout.write(text);
  await writeFile(join(out, 'table.md'), text);
  await writeFile(
    join(out, 'results.json'),
    `${JSON.stringify({ arch, runId, rows, install, reproducible }, null, 1)}\n`,
  );

  const failed =
    rows.some((r) => r.build?.state !== 'succeeded' && r.build?.state !== 'up-to-date') ||
    rows.some((r) => r.test?.result === 'failed') ||
    findings.length > 0 ||
    !install.ok ||
    (install.ok && install.foreign.length > 0) ||
    install.unresolved.length > 0 ||
    (reproducible?.length ?? 0) > 0;
  return failed ? 1 : 0;
}

/**
 * Rebuilt packages whose `.PKGINFO` or data member differ from the first build's (or that it did
 * not make). The rebuild ran with one more environment variable, which `.melange.yaml` (the config
 * as built) records, so that control member and the signature over it differ by design.
 */
async function compareRebuild(out: string, arch: string): Promise<string[]> {
  const dir = join(out, 'rebuild', 'packages', arch);
  const again = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.apk'));
  if (!again.length) return ['(the rebuild made no packages)'];
  const differ: string[] = [];
  for (const f of again) {
    const first = join(out, 'packages', arch, f);
    const a = await readApkHead(first).catch(() => undefined);
    const b = await readApkHead(join(dir, f));
    if (!a || JSON.stringify(a.info) !== JSON.stringify(b.info)) {
      differ.push(`${f} (.PKGINFO)`);
      continue;
    }
    const data = async (h: typeof b) => (await readFile(h.file)).subarray(h.dataOffset);
    if (!(await data(a)).equals(await data(b))) differ.push(`${f} (data)`);
  }
  return differ;
}

process.exitCode = await main();
