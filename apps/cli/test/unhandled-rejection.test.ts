import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('a promise rejected with nobody to catch it (the bin)', () => {
  it('is reported with the prefix and the process exits 1, instead of running on or dying bare', () => {
    // The interval would keep the process alive: only the handler ends it.
    const script = [
      "import { exitOnUnhandledRejection } from '@melange2/cli';",
      'exitOnUnhandledRejection();',
      "Promise.reject(new Error('KV write timed out'));",
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const r = spawnSync(
      process.execPath,
      ['--conditions=@melange2/source', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.stderr).toBe(
      'melange2-orch: internal error (a promise rejected unhandled): KV write timed out\n',
    );
    expect(r.status).toBe(1);
  });
});
