import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-helpers-apk.js';

describe('report and trace without a run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'm2-report-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('say there is no run (exit 1), refuse an unknown format or a bad --dashboard (exit 2)', async () => {
    const r = await runCli(['report', '--out-dir', dir, '-o', join(dir, 'r.html')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\.melange2-runs: no run recorded yet/);
    const t = await runCli(['trace', 'nope', '--out-dir', dir]);
    expect(t.code).toBe(1);
    expect(t.err).toMatch(/no run nope/);
    expect((await runCli(['trace', '--out-dir', dir, '--format', 'perfetto'])).err).toMatch(
      /--format: expected chrome, got "perfetto"/,
    );
    const d = await runCli(['build-all', dir, '--dashboard=nope']);
    expect(d.code).toBe(2);
    expect(d.err).toMatch(/--dashboard: expected host:port/);
  });
});
