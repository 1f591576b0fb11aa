import { describe, expect, it } from 'vitest';
import { progressLines, summaryTable } from '@melange2/cli/internal';

describe('summary table', () => {
  it('says "nothing to build" and why when everything is up to date', () => {
    const text = summaryTable({
      runId: 'r',
      rows: [],
      dispatched: 0,
      refusedReports: 0,
      ignoredEvents: 0,
      upToDate: [
        { id: 'a@x86_64', version: '1-r0' },
        { id: 'a@aarch64', version: '1-r0' },
      ],
      problems: [],
      cycles: [],
      wallMs: 12,
    });
    expect(text).toBe(
      'nothing to build: 0 built, 0 failed, 0 skipped, 2 up to date (x86_64 1, aarch64 1); 0 dispatched in 0.0s\n',
    );
  });
});

describe('progress lines', () => {
  it('a refused report is said as such (never as a failure), and what happens to the build', () => {
    const lines: string[] = [];
    const on = progressLines(2, (l) => lines.push(l));
    const build = {
      id: 'zlib@x86_64',
      name: 'zlib',
      arch: 'x86_64',
      deps: [],
      cost: 1,
      reasons: [],
      version: '1.3-r0',
      configFile: 'zlib.yaml',
      input: 'i',
      packages: ['zlib'],
    };
    const base = { type: 'refused', id: build.id, attempt: 1, agent: 'rogue' } as const;
    on({
      ...base,
      code: 'not-dispatched',
      reason: 'no build evil@x86_64 in this run',
      outcome: 'waiting',
      id: 'evil@x86_64',
    });
    on({ ...base, build, code: 'staged-mismatch', reason: 'staged bytes differ', outcome: 'redispatched' });
    on({ ...base, build, code: 'staged-mismatch', reason: 'staged bytes differ', outcome: 'given-up' });
    expect(lines).toEqual([
      '[0/2] evil@x86_64 REPORT REFUSED (not-dispatched) from rogue, attempt 1: no build evil@x86_64 in this run; waiting for the right report',
      '[0/2] x86_64 zlib-1.3-r0 REPORT REFUSED (staged-mismatch) from rogue, attempt 1: staged bytes differ; dispatched again',
      '[1/2] x86_64 zlib-1.3-r0 REPORT REFUSED (staged-mismatch) from rogue, attempt 1: staged bytes differ; given up (not a failure of the package)',
    ]);
  });
});
