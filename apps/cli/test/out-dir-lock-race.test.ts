// The out-dir lock under a race: several processes find the same stale lock at once.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Proc } from './processes.js';

// Takes the lock without waiting and holds it until its stdin ends.
const SCRIPT = `
import { lockOutDir } from '@melange2/cli/internal';
try {
  const lock = await lockOutDir(process.env.LOCK_DIR, {
    wait: false,
    onTakeover: (h) => console.error('took over from pid ' + h.pid),
  });
  console.error('holding');
  process.stdin.resume();
  process.stdin.on('end', () => lock.release().then(() => console.error('released')));
} catch (e) {
  console.error('refused ' + e.code);
}
`;

describe('the out-dir lock', () => {
  const dirs: string[] = [];
  const procs: Proc[] = [];
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a stale lock found by five processes at once goes to exactly one; nothing is left behind', {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'm2-lock-'));
    dirs.push(dir);
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const stale = { pid: dead, host: hostname(), startedAt: '2026-01-01T00:00:00.000Z' };
    writeFileSync(join(dir, '.melange2-lock'), `${JSON.stringify(stale)}\n`);
    const runs = Array.from({ length: 5 }, (_, i) => {
      const p = new Proc(
        `locker-${i}`,
        spawn(
          process.execPath,
          ['--conditions=@melange2/source', '--import', 'tsx', '--input-type=module', '-e', SCRIPT],
          { env: { ...process.env, LOCK_DIR: dir }, stdio: ['pipe', 'pipe', 'pipe'] },
        ),
      );
      procs.push(p);
      return p;
    });
    const said = await Promise.all(runs.map((p) => p.waitFor(/^(holding|refused \S+)$/m)));
    const holders = runs.filter((_, i) => said[i]![1] === 'holding');
    expect(holders).toHaveLength(1);
    expect(said.filter((m) => m[1] === 'refused OUT_DIR_LOCKED')).toHaveLength(4);
    // Exactly one run removed the dead process's lock. It is not always the one that then holds
    // it: between the removal and its own create, another run may create first (still one holder).
    const tookOver = runs.filter((p) => p.stderr.includes('took over'));
    expect(tookOver).toHaveLength(1);
    expect(tookOver[0]!.stderr).toContain(`took over from pid ${dead}`);
    holders[0]!.child.stdin?.end();
    await holders[0]!.waitFor(/^released$/m);
    expect(await Promise.all(runs.map((p) => p.exit()))).toEqual([0, 0, 0, 0, 0]);
    // No lock, no takeover marker, no private file.
    expect(readdirSync(dir)).toEqual([]);
  });
});
