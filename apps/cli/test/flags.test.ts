import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildProgram, flagsMarkdown, parseArches, resetDeprecationWarnings } from '@melange2/cli/internal';
import { runCli } from './cli-helpers-apk.js';
import { fixtureRepo } from './depgraph-cli.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const HELLO = join(ROOT, 'testdata', 'engine-build', 'hello.yaml');
const OS_REPO = join(ROOT, 'testdata', 'os');
const NO_DAEMON = 'unix:///nonexistent/m2-flags-test.sock';

let dir: string;
let key: string;
const saved: Record<string, string | undefined> = {};
const ENV = [
  'BUILDKIT_HOST',
  'BUILDKIT_ADDR_X86_64',
  'BUILDKIT_ADDR_AARCH64',
  'NATS_URL',
  'NATS_TLS_CA',
  'NATS_NKEY',
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'm2-flags-'));
  expect((await runCli(['keygen', '--key-size', '2048', '--dir', dir])).code).toBe(0);
  key = join(dir, 'melange.rsa');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// Each test chooses the environment it means (the shared daemons' variables are put back after).
beforeEach(() => {
  resetDeprecationWarnings();
  for (const k of ENV) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
});
afterEach(() => {
  for (const k of ENV) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
});

describe('--arch', () => {
  it("takes melange's names and aliases, comma-separated or repeated", () => {
    expect(parseArches(['arm64'], '--arch')).toEqual(['aarch64']);
    expect(parseArches(['amd64,aarch64', 'x86_64'], '--arch')).toEqual(['x86_64', 'aarch64']);
    expect(() => parseArches(['riscv64'], '--arch')).toThrow(/unknown architecture "riscv64"/);
  });

  it('arm64 reaches the build (compile --arch arm64 targets aarch64)', async () => {
    const r = await runCli(['compile', HELLO, '--arch', 'arm64', '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).arch).toBe('aarch64');
  });

  it('plan takes a repeated --arch', async () => {
    const r = await runCli(['plan', fixtureRepo, '--no-parse-cache', '--arch', 'amd64', '--arch', 'arm64']);
    expect(r.out).toContain('plan for x86_64');
    expect(r.out).toContain('plan for aarch64');
  });
});

describe('old spellings', () => {
  it('keep working for one release and warn on stderr', async () => {
    const r = await runCli(['graph', fixtureRepo, '--no-cache', '--workers', '0', '--format', 'json']);
    expect(JSON.parse(r.out).nodes).toBe(17);
    expect(r.err).toContain(
      'melange2-orch: warning: --no-cache is deprecated and will be removed in the next release; use --no-parse-cache',
    );
    expect(r.err).toContain('--workers is deprecated');
    const cache = join(dir, 'parse-cache');
    const old = await runCli(['graph', fixtureRepo, '--cache-dir', cache, '--format', 'json']);
    expect(old.err).toContain(
      '--cache-dir is deprecated and will be removed in the next release; use --parse-cache-dir',
    );
    expect(existsSync(cache)).toBe(true);
  });

  it('--out is --out-dir (checked like it), and hidden from --help', async () => {
    const r = await runCli([
      'build',
      HELLO,
      '--out',
      join(dir, 'o'),
      '--vars-file',
      join(dir, 'missing.yaml'),
    ]);
    expect(r.err).toContain('--out is deprecated');
    expect(r.code).toBe(2);
    const help = await runCli(['build', '--help']);
    expect(help.out).toContain('--out-dir <dir>');
    expect(help.out).not.toMatch(/--out </);
  });

  it('--slots is --jobs for the agent', async () => {
    const r = await runCli(['agent', '--arch', 'x86_64', '--slots', '0', '--nats', 'nats://127.0.0.1:1']);
    expect(r.err).toContain('--slots is deprecated');
    expect(r.err).toContain('--slots: expected a whole number ≥ 1, got "0"');
    expect(r.code).toBe(2);
  });

  it('resolve takes --repository and --keyring as --repository-append and --keyring-append', async () => {
    const r = await runCli([
      'resolve',
      'x',
      '--arch',
      'x86_64',
      '--repository',
      dir,
      '--keyring',
      join(dir, 'nope'),
    ]);
    expect(r.err).toContain('--repository is deprecated');
    expect(r.err).toContain('--keyring is deprecated');
    expect(r.err).toMatch(/--keyring-append: keyring: .*nope does not exist/);
    expect(r.code).toBe(2);
  });
});

describe('usage errors', () => {
  it('a missing argument has the prefix of every other error (exit 2)', async () => {
    const r = await runCli(['graph']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^melange2-orch: missing required argument 'repo'/);
  });

  it('an out-of-range --listen port is a usage error', async () => {
    const r = await runCli([
      'coordinator',
      OS_REPO,
      '--nats',
      'nats://127.0.0.1:1',
      '--listen',
      '127.0.0.1:70000',
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--listen: port 70000 is out of range');
  });

  it('a public key as --signing-key says so, not what OpenSSL said', async () => {
    const r = await runCli(['build', HELLO, '--signing-key', `${key}.pub`, '--buildkit-addr', NO_DAEMON]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('melange.rsa.pub is a public key; signing needs the private key');
    expect(r.err).not.toMatch(/DECODER|error:1E/);
  });

  it('a bad --changed-since names the ref and what to give, not the git command', async () => {
    const r = await runCli(['plan', fixtureRepo, '--no-parse-cache', '--changed-since', 'no-such-ref-xyz']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--changed-since no-such-ref-xyz: no such commit here');
    expect(r.err).not.toContain('Command failed');
  });

  it('graph exits 1 when a config does not parse, after printing the listing', async () => {
    const r = await runCli(['graph', fixtureRepo, '--no-parse-cache']);
    expect(r.out).toContain('build graph for x86_64');
    expect(r.err).toMatch(/warning: broken\.yaml/);
    expect(r.code).toBe(1);
  });
});

describe('inputs before the environment', () => {
  it('build: a missing --env-file is reported before the missing daemon', async () => {
    const r = await runCli(['build', HELLO, '--signing-key', key, '--env-file', join(dir, 'nope.env')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--env-file');
    expect(r.err).not.toContain('buildkitd');
  });

  it('build: with every input good, the missing daemon is an environment error (exit 3)', async () => {
    const r = await runCli(['build', HELLO, '--signing-key', key, '--out-dir', join(dir, 'p')]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('no buildkitd for x86_64');
  });

  it('build-all: a missing --cache-dir is reported before any daemon is looked for', async () => {
    const r = await runCli(['build-all', OS_REPO, '--signing-key', key, '--cache-dir', join(dir, 'nope')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--cache-dir');
    // Where builds run, --cache-dir is melange's build cache, not the old parse-cache spelling.
    expect(r.err).not.toContain('deprecated');
  });

  it('build and build-all: a missing --git-mirror is reported before any daemon is looked for', async () => {
    const nope = join(dir, 'no-mirrors');
    const b = await runCli([
      'build',
      HELLO,
      '--signing-key',
      key,
      '--out-dir',
      join(dir, 'p'),
      '--git-mirror',
      nope,
    ]);
    expect([b.code, b.err]).toEqual([2, expect.stringContaining(nope)]);
    const all = await runCli(['build-all', OS_REPO, '--signing-key', key, '--git-mirror', nope]);
    expect([all.code, all.err]).toEqual([2, expect.stringContaining('--git-mirror')]);
  });

  it('agent: a missing --repo is reported before NATS is contacted', async () => {
    const r = await runCli([
      'agent',
      '--arch',
      'arm64',
      '--repo',
      join(dir, 'nope'),
      '--nats',
      'nats://127.0.0.1:1',
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--repo');
  });
});

describe('environment fallbacks', () => {
  it('build and test use $BUILDKIT_HOST when no --buildkit-addr is given', async () => {
    process.env['BUILDKIT_HOST'] = NO_DAEMON;
    for (const command of ['build', 'test']) {
      const r = await runCli([command, HELLO, '--signing-key', key, '--out-dir', join(dir, 'p')]);
      expect(r.code).toBe(3);
      expect(r.err).toContain('/nonexistent/m2-flags-test.sock');
    }
  });

  it('$BUILDKIT_ADDR_<ARCH> wins over $BUILDKIT_HOST', async () => {
    process.env['BUILDKIT_HOST'] = 'unix:///nonexistent/host.sock';
    process.env['BUILDKIT_ADDR_AARCH64'] = 'unix:///nonexistent/arm.sock';
    const r = await runCli([
      'build',
      HELLO,
      '--arch',
      'arm64',
      '--signing-key',
      key,
      '--out-dir',
      join(dir, 'p'),
    ]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('/nonexistent/arm.sock');
  });

  it('build-all uses $BUILDKIT_HOST too', async () => {
    process.env['BUILDKIT_HOST'] = NO_DAEMON;
    const r = await runCli([
      'build-all',
      OS_REPO,
      '--arch',
      'x86_64',
      '--signing-key',
      key,
      '--out-dir',
      join(dir, 'all'),
      '--no-parse-cache',
    ]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('/nonexistent/m2-flags-test.sock');
  });

  it('agent uses $BUILDKIT_HOST and $NATS_URL', async () => {
    process.env['BUILDKIT_HOST'] = NO_DAEMON;
    process.env['NATS_URL'] = 'nats://127.0.0.1:1';
    const r = await runCli(['agent', '--arch', 'x86_64', '--repo', OS_REPO]);
    expect(r.code).toBe(3);
    expect(r.err).toContain('cannot reach NATS at nats://127.0.0.1:1');
  });

  it('agent --signing-key is refused, explaining that the coordinator alone signs', async () => {
    const r = await runCli(['agent', '--arch', 'x86_64', '--repo', OS_REPO, '--signing-key', key]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--signing-key: an agent holds no repository key .*the coordinator checks each/);
  });

  it('$SOURCE_DATE_EPOCH is checked like --source-date-epoch', async () => {
    const prev = process.env['SOURCE_DATE_EPOCH'];
    process.env['SOURCE_DATE_EPOCH'] = 'yesterday';
    try {
      const r = await runCli(['compile', HELLO, '--json']);
      expect(r.code).toBe(2);
      expect(r.err).toContain('$SOURCE_DATE_EPOCH: expected a whole number ≥ 0, got "yesterday"');
    } finally {
      if (prev === undefined) delete process.env['SOURCE_DATE_EPOCH'];
      else process.env['SOURCE_DATE_EPOCH'] = prev;
    }
  });
});

describe('README', () => {
  it("flag table is the code's (MELANGE2_WRITE_README=1 rewrites it)", async () => {
    const readme = join(ROOT, 'README.md');
    const text = readFileSync(readme, 'utf8');
    const begin = '<!-- flags:begin (generated from apps/cli/src/flags/table.ts) -->\n';
    const end = '<!-- flags:end -->';
    const a = text.indexOf(begin);
    const b = text.indexOf(end);
    expect(a, 'README.md has no flags table markers').toBeGreaterThan(-1);
    const table = flagsMarkdown(await buildProgram());
    if (process.env['MELANGE2_WRITE_README'] === '1')
      writeFileSync(readme, text.slice(0, a + begin.length) + table + text.slice(b));
    else expect(text.slice(a + begin.length, b)).toBe(table);
  });
});
