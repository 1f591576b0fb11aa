import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type CliBootstrap, cliBootstrap, TESTDATA } from './build-helpers.js';
import { runCli } from './cli-helpers-apk.js';

let b: CliBootstrap;
let out: string;
const common = () => [
  '--buildkit-addr',
  inject('daemons').buildkit.x86_64,
  '--out-dir',
  out,
  '--signing-key',
  b.key,
  '--repository-append',
  b.repo,
  '--apk-cache-dir',
  join(b.dir, 'cache'),
];

beforeAll(async () => {
  b = await cliBootstrap(['x86_64']);
  out = join(b.dir, 'packages');
});
afterAll(() => {
  if (b) rmSync(b.dir, { recursive: true, force: true });
});

describe('melange2-orch test', () => {
  it('passes for a good package, in BuildKit, with the package from --out-dir', async () => {
    expect((await runCli(['build', join(TESTDATA, 'hello.yaml'), ...common()])).code).toBe(0);
    const r = await runCli(['test', join(TESTDATA, 'hello.yaml'), ...common()]);
    expect(r.err).not.toContain('failed');
    expect(r.code).toBe(0);
    expect(r.out).toContain('x86_64: test hello passed');
    expect(r.err).toMatch(/environment: .*hello-1\.2\.3-r0/);
  });

  it("fails for a bad package with the test's output", async () => {
    expect((await runCli(['build', join(TESTDATA, 'badtest.yaml'), ...common()])).code).toBe(0);
    const r = await runCli(['test', join(TESTDATA, 'badtest.yaml'), ...common()]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('step "test: looks for a file that is not there" failed with exit code 1');
    expect(r.err).toContain('| checking for /usr/share/badtest/missing');
  });

  it('a package that was never built cannot be tested (environment error before BuildKit)', async () => {
    const r = await runCli([
      'test',
      join(TESTDATA, 'hello.yaml'),
      ...common(),
      '--out-dir',
      join(b.dir, 'empty'),
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('environment failed');
    expect(r.err).toContain('hello');
  });
});
