import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startNats } from '@melange2/daemons';
import { describe, expect, it } from 'vitest';
import { natsConnect } from '../harness/src/index.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'apps', 'cli', 'bin', 'melange2-orch.js');

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

describe('melange2-orch (built CLI)', () => {
  it('--help lists the commands', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: melange2-orch');
    expect(r.stdout).toMatch(/daemons\s+start, stop or show/);
  });

  it('--version prints the version', async () => {
    const r = await cli('--version');
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('an unknown command exits 2 with a hint', async () => {
    const r = await cli('frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });

  it('daemons status on an empty state dir says how to start them and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'm2-cli-'));
    try {
      const r = await cli('daemons', 'status', '--state-dir', dir);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain('melange2-orch daemons up');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('daemons up with an unknown arch is a usage error', async () => {
    const r = await cli('daemons', 'up', '--arch', 'riscv64', '--state-dir', '/nonexistent-m2');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown architecture "riscv64"');
  });

  it('a missing argument is a usage error with the melange2-orch: prefix', async () => {
    const r = await cli('build');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^melange2-orch: missing required argument 'config'/);
  });

  it("an old flag spelling still works and warns; help shows melange's names", async () => {
    const r = await cli('graph', 'testdata/depgraph/repo', '--no-cache', '--format', 'json');
    expect(r.stderr).toContain('warning: --no-cache is deprecated');
    expect(JSON.parse(r.stdout).nodes).toBe(17);
    const help = (await cli('build-all', '--help')).stdout.replace(/\s+/g, ' ');
    expect(help).toContain('--out-dir <dir>');
    expect(help).toContain('--apk-cache-dir <dir>');
    expect(help).toContain('[env: $BUILDKIT_ADDR_<ARCH>, then $BUILDKIT_HOST]');
    expect(help).not.toContain('--slots');
  });
});

describe('melange2-orch nats-config (built CLI, real nats-server)', () => {
  it('writes a locked-down setup a nats-server runs with: the coordinator gets in, no credentials do not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'm2-natscfg-'));
    try {
      const out = join(dir, 'auth');
      const r = await cli('nats-config', '--arch', 'x86_64,aarch64', '-o', out);
      expect(r.code).toBe(0);
      const files = [
        'auth.conf',
        'coordinator.nk',
        'agent-x86_64.nk',
        'agent-aarch64.nk',
        'ca.pem',
        'server-cert.pem',
        'server-key.pem',
      ];
      for (const f of files) expect((statSync(join(out, f)).mode & 0o777).toString(8), f).toBe('600');
      expect(r.stdout).toContain(`NATS_NKEY=${join(out, 'coordinator.nk')}`);
      expect(r.stdout).toContain(`MELANGE2_AGENT_NATS_NKEY_AARCH64=${join(out, 'agent-aarch64.nk')}`);
      const conf = readFileSync(join(out, 'auth.conf'), 'utf8');
      expect(conf).toContain('# agent-x86_64');
      expect(conf).toContain('"$JS.API.CONSUMER.MSG.NEXT.M2_BUILDS.agents-x86_64"');
      const n = await startNats({
        stateDir: join(dir, 'server'),
        tls: {
          ca: join(out, 'ca.pem'),
          cert: join(out, 'server-cert.pem'),
          key: join(out, 'server-key.pem'),
        },
        authConf: join(out, 'auth.conf'),
      });
      try {
        const access = { url: n.url, tlsCa: join(out, 'ca.pem') };
        const nc = await natsConnect({ ...access, nkey: join(out, 'coordinator.nk') });
        await nc.close();
        await expect(natsConnect(access, { reconnect: false })).rejects.toThrow(/Authorization Violation/);
      } finally {
        await n.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
