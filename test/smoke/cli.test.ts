import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

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
