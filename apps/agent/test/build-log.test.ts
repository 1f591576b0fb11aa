import { ProgressLines } from '@melange2/agent/internal';
import { describe, expect, it } from 'vitest';

describe('a build log from BuildKit progress', () => {
  it('numbers vertices as buildctl --progress=plain does, with output, DONE, CACHED and ERROR', () => {
    const out: string[] = [];
    const p = new ProgressLines((l) => out.push(l));
    const v = (digest: string, name: string) => ({ digest, name, inputs: [] });
    const t = new Date(0);
    p.solve({ type: 'vertex.started', vertex: v('a', '[1/2] compile'), started: t });
    p.solve({
      type: 'vertex.log',
      vertex: v('a', '[1/2] compile'),
      stream: 'stdout',
      line: 'hello',
      timestamp: t,
    });
    p.solve({
      type: 'vertex.completed',
      vertex: v('a', '[1/2] compile'),
      started: t,
      completed: t,
      durationMs: 1234,
    });
    p.solve({ type: 'vertex.cached', vertex: v('b', 'busybox layer'), at: t });
    p.solve({
      type: 'vertex.errored',
      vertex: v('c', '[2/2] check'),
      error: 'process "/bin/sh -c exit 3" did not complete successfully: exit code: 3',
      started: t,
      completed: t,
      durationMs: 5,
    });
    p.build({ type: 'stage', stage: 'package', arch: 'x86_64' });
    expect(out).toEqual([
      '#1 [1/2] compile',
      '#1 hello',
      '#1 DONE 1.2s',
      '#2 busybox layer',
      '#2 CACHED',
      '#3 [2/2] check',
      '#3 ERROR: process "/bin/sh -c exit 3" did not complete successfully: exit code: 3',
      '== package (x86_64)',
    ]);
  });
});
