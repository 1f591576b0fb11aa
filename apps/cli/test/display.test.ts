import { describe, expect, it } from 'vitest';
import { summaryTable } from '@melange2/cli/internal';

describe('summary table', () => {
  it('says "nothing to build" and why when everything is up to date', () => {
    const text = summaryTable({
      runId: 'r',
      rows: [],
      dispatched: 0,
      refusedReports: 0,
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
