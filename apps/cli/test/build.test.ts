import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { readApkData, readApkHead } from '@melange2/apk';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type CliBootstrap, cliBootstrap, TESTDATA } from './build-helpers.js';
import { runCli } from './cli-helpers-apk.js';

let b: CliBootstrap;
const daemons = () => inject('daemons').buildkit;
const common = (out: string) => [
  '--buildkit-addr',
  `x86_64=${daemons().x86_64}`,
  '--buildkit-addr',
  `aarch64=${daemons().aarch64}`,
  '--out-dir',
  out,
  '--signing-key',
  b.key,
  '--repository-append',
  b.repo,
  '--apk-cache-dir',
  join(b.dir, 'cache'),
  '--source-date-epoch',
  '1700000000',
];

beforeAll(async () => {
  b = await cliBootstrap(['x86_64', 'aarch64']);
});
afterAll(() => {
  if (b) rmSync(b.dir, { recursive: true, force: true });
});

describe('melange2-orch build', () => {
  it('builds a config for both arches into signed APKs and indexes', async () => {
    const out = join(b.dir, 'packages');
    const r = await runCli([
      'build',
      join(TESTDATA, 'hello.yaml'),
      '--arch',
      'x86_64,aarch64',
      ...common(out),
    ]);
    expect(r.err).not.toContain('failed');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /x86_64: built hello-1\.2\.3-r0, hello-doc-1\.2\.3-r0, hello-mint-1\.2\.3-r0, hello-vanilla-1\.2\.3-r0/,
    );
    expect(r.out).toMatch(/aarch64: built hello-1\.2\.3-r0/);
    // Progress names the steps: a marker line each inside a group of steps (a cached group shows its name).
    expect(r.err).toMatch(
      /\[aarch64\] ( {3}-> only on aarch64 \(.*\) \[(done|CACHED)\]| {4}\| \[melange2\] step \d+\/\d+: only on aarch64$| {3}-> .* \(\d+ steps\) \(.*\) \[CACHED\])/m,
    );
    expect(r.err).toMatch(/\[x86_64\] Total steps: \d+/);
    for (const arch of ['x86_64', 'aarch64']) {
      expect(existsSync(join(out, arch, 'hello-1.2.3-r0.apk'))).toBe(true);
      expect(existsSync(join(out, arch, 'APKINDEX.tar.gz'))).toBe(true);
    }
    const v = await runCli(['verify', '--keyring-append', b.pub, join(out, 'x86_64', 'hello-1.2.3-r0.apk')]);
    expect(v.code).toBe(0);
  });

  it('--serve-layers sends the environment over HTTP, keyed by content', async () => {
    const r = await runCli([
      'build',
      join(TESTDATA, 'badtest.yaml'),
      '--serve-layers',
      ...common(join(b.dir, 'out-http')),
    ]);
    expect(r.err).not.toContain('failed');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/x86_64: built badtest-1\.0\.0-r0/);
  });

  it('--serve-layers off syncs the environment as directories (the default with a daemon on this machine serves it)', async () => {
    const r = await runCli([
      'build',
      join(TESTDATA, 'badtest.yaml'),
      '--serve-layers',
      'off',
      ...common(join(b.dir, 'out-dirs')),
    ]);
    expect(r.err).not.toContain('failed');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/x86_64: built badtest-1\.0\.0-r0/);
  });

  it('--vars-file overrides the config vars; --no-generate-index writes no index', async () => {
    const out = join(b.dir, 'out-vars');
    const vars = join(b.dir, 'vars.yaml');
    writeFileSync(vars, 'greeting: hi from a vars file\n');
    const r = await runCli([
      'build',
      join(TESTDATA, 'hello.yaml'),
      '--vars-file',
      vars,
      '--no-generate-index',
      ...common(out),
    ]);
    expect(r.code).toBe(0);
    expect(existsSync(join(out, 'x86_64', 'APKINDEX.tar.gz'))).toBe(false);
    const head = await readApkHead(join(out, 'x86_64', 'hello-1.2.3-r0.apk'));
    let greeting = '';
    await readApkData(head, async (e, content) => {
      const chunks: Buffer[] = [];
      for await (const c of content) chunks.push(c as Buffer);
      if (e.name === 'usr/share/hello/greeting') greeting = Buffer.concat(chunks).toString().trim();
    });
    expect(greeting).toBe('hi from a vars file 1.2');
    writeFileSync(vars, '- not a mapping\n');
    const bad = await runCli(['build', join(TESTDATA, 'hello.yaml'), '--vars-file', vars, ...common(out)]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('expected a mapping');
  });

  it('--cache-dir is what the build sees at /var/cache/melange', async () => {
    const cache = join(b.dir, 'melange-cache');
    mkdirSync(join(cache, 'go'), { recursive: true });
    writeFileSync(join(cache, 'go', 'seed'), 'from the host cache\n');
    const config = join(b.dir, 'cached.yaml');
    writeFileSync(
      config,
      [
        'package:',
        '  name: cached',
        '  version: 1.0.0',
        '  epoch: 0',
        'environment:',
        '  contents:',
        '    packages: [busybox]',
        'pipeline:',
        '  - runs: |',
        '      mkdir -p ${{targets.destdir}}/usr/share/cached',
        '      cat /var/cache/melange/go/seed > ${{targets.destdir}}/usr/share/cached/seed',
        '',
      ].join('\n'),
    );
    const out = join(b.dir, 'out-cache');
    const r = await runCli(['build', config, '--cache-dir', cache, ...common(out)]);
    expect(r.err).not.toContain('failed');
    expect(r.code).toBe(0);
    const head = await readApkHead(join(out, 'x86_64', 'cached-1.0.0-r0.apk'));
    let seed = '';
    await readApkData(head, async (e, content) => {
      const chunks: Buffer[] = [];
      for await (const c of content) chunks.push(c as Buffer);
      if (e.name === 'usr/share/cached/seed') seed = Buffer.concat(chunks).toString();
    });
    expect(seed).toBe('from the host cache\n');
  });

  it('an arch the config does not target is skipped, not failed', async () => {
    const out = join(b.dir, 'out-arm-only');
    const r = await runCli([
      'build',
      join(TESTDATA, 'arm-only.yaml'),
      '--arch',
      'x86_64,aarch64',
      ...common(out),
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/x86_64: skipped: .*not built for x86_64/);
    expect(r.out).toMatch(/aarch64: built arm-only-1\.0\.0-r0/);
    expect(existsSync(join(out, 'x86_64'))).toBe(false);
  });

  it('a failing step exits 1 and prints the step name, exit code and log tail', async () => {
    const r = await runCli(['build', join(TESTDATA, 'fails.yaml'), ...common(join(b.dir, 'out-fails'))]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('step "break on purpose" failed with exit code 7');
    expect(r.err).toContain('| about to fail for the test');
  });

  it('--step-grouping build runs the steps in one container and still names the failing step', async () => {
    const r = await runCli([
      'build',
      join(TESTDATA, 'fails.yaml'),
      '--step-grouping',
      'build',
      ...common(join(b.dir, 'out-fails-grouped')),
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('step "break on purpose" failed with exit code 7');
    expect(r.err).toContain('| [melange2] step 2/2 failed with exit code 7');
    const bad = await runCli([
      'build',
      join(TESTDATA, 'fails.yaml'),
      '--step-grouping',
      'all',
      ...common(join(b.dir, 'x')),
    ]);
    expect(bad.code).toBe(2);
  });

  it('a bad config exits 1 with located errors', async () => {
    const r = await runCli(['build', join(TESTDATA, 'bad.yaml'), ...common(join(b.dir, 'out-bad'))]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.yaml:\d+:\d+: .*unknown pipeline "no\/such-pipeline"/);
  });

  it('usage errors exit 2', async () => {
    const noKey = await runCli(['build', join(TESTDATA, 'hello.yaml'), '--buildkit-addr', daemons().x86_64]);
    expect(noKey.code).toBe(2);
    expect(noKey.err).toContain('--signing-key is required');
    const badArch = await runCli(['build', join(TESTDATA, 'hello.yaml'), '--arch', 'mips', ...common(b.dir)]);
    expect(badArch.code).toBe(2);
    expect(badArch.err).toContain('unknown architecture "mips"');
  });

  it('an unreachable daemon is an environment error (exit 3)', async () => {
    const r = await runCli([
      'build',
      join(TESTDATA, 'hello.yaml'),
      '--buildkit-addr',
      'unix:///nonexistent/buildkitd.sock',
      '--signing-key',
      b.key,
      '--out-dir',
      join(b.dir, 'out-x'),
    ]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('/nonexistent/buildkitd.sock');
  });
});
