import { describe, expect, it } from 'vitest';
import { ProgressRenderer, ProgressTracker, type SolveEvent } from '@melange2/buildkit';
import type { StatusMessage } from '@melange2/buildkit/internal';

const t = (s: number) => ({ seconds: 1_700_000_000 + s, nanos: 0 });
function vertex(digest: string, name: string, o: Partial<StatusMessage['vertexes'][number]> = {}) {
  return {
    digest,
    inputs: [],
    name,
    cached: false,
    started: null,
    completed: null,
    error: '',
    progressGroup: null,
    ...o,
  };
}
function msg(o: Partial<StatusMessage>): StatusMessage {
  return { vertexes: [], statuses: [], logs: [], warnings: [], ...o };
}

describe('ProgressTracker', () => {
  it('turns repeated vertex updates into one start and one end per vertex, with log lines', () => {
    const events: SolveEvent[] = [];
    const tr = new ProgressTracker((e) => events.push(e));
    tr.update(
      msg({
        vertexes: [
          vertex('d1', 'build', { started: t(0) }),
          vertex('d2', 'fetch', { started: t(0), completed: t(0), cached: true }),
        ],
      }),
    );
    tr.update(msg({ vertexes: [vertex('d1', 'build', { started: t(0) })] }));
    tr.update(msg({ logs: [{ vertex: 'd1', timestamp: t(1), stream: 1, msg: Buffer.from('hel') }] }));
    tr.update(msg({ logs: [{ vertex: 'd1', timestamp: t(1), stream: 1, msg: Buffer.from('lo\nwor') }] }));
    tr.update(msg({ vertexes: [vertex('d1', 'build', { started: t(0), completed: t(18) })] }));
    tr.finish();
    expect(events.map((e) => `${e.type} ${e.vertex.name}${'line' in e ? ` ${e.line}` : ''}`)).toEqual([
      'vertex.started build',
      'vertex.cached fetch',
      'vertex.log build hello',
      'vertex.log build wor',
      'vertex.completed build',
    ]);
    const done = events.find((e) => e.type === 'vertex.completed');
    expect(done?.type === 'vertex.completed' && done.durationMs).toBe(18_000);
    expect(tr.summary()).toMatchObject({ total: 2, cached: 1, executed: 1, errored: 0 });
  });

  it('keeps the last 50 log lines of a failed vertex and prefers the real failure over cancellations', () => {
    const tr = new ProgressTracker(() => {});
    const lines = Array.from({ length: 70 }, (_, i) => `l${i}`).join('\n');
    tr.update(msg({ vertexes: [vertex('a', 'a', { started: t(0) }), vertex('b', 'b', { started: t(0) })] }));
    tr.update(msg({ logs: [{ vertex: 'b', timestamp: t(1), stream: 2, msg: Buffer.from(`${lines}\n`) }] }));
    tr.update(
      msg({
        vertexes: [
          vertex('a', 'a', { started: t(0), completed: t(2), error: 'context canceled' }),
          vertex('b', 'b', { started: t(0), completed: t(2), error: 'exit code: 2' }),
        ],
      }),
    );
    expect(tr.failed()?.name).toBe('b');
    const tail = tr.logTail('b');
    expect(tail).toHaveLength(50);
    expect(tail.at(-1)).toBe('l69');
  });
});

describe('ProgressTracker log tail', () => {
  it('orders lines of both streams by their timestamps, not by arrival', () => {
    const tr = new ProgressTracker(() => {});
    tr.update(msg({ vertexes: [vertex('v', 'v', { started: t(0) })] }));
    tr.update(msg({ logs: [{ vertex: 'v', timestamp: t(3), stream: 2, msg: Buffer.from('err late\n') }] }));
    tr.update(
      msg({ logs: [{ vertex: 'v', timestamp: t(1), stream: 1, msg: Buffer.from('out 1\nout 2\n') }] }),
    );
    expect(tr.logTail('v')).toEqual(['out 1', 'out 2', 'err late']);
  });
});

describe('ProgressRenderer', () => {
  it('without debug prints only the log lines the caller picks', () => {
    let out = '';
    const r = new ProgressRenderer({
      out: { write: (s: string) => (out += s) },
      showLog: (l) => l.startsWith('>> '),
      totalSteps: 1,
    });
    const vertex = { digest: 'a', name: 'all', inputs: [] };
    r.onEvent({ type: 'vertex.started', vertex, started: new Date(0) });
    for (const line of ['>> part one', 'noise', '>> part two'])
      r.onEvent({ type: 'vertex.log', vertex, stream: 'stdout', line, timestamp: new Date(0) });
    expect(out).toBe('[1/1] all\n    | >> part one\n    | >> part two\n');
  });

  it('prints the melange2 format, logs with debug, and a summary', () => {
    let out = '';
    const r = new ProgressRenderer({ out: { write: (s: string) => (out += s) }, debug: true, totalSteps: 3 });
    const v = (digest: string, name: string) => ({ digest, name, inputs: [] });
    r.onEvent({ type: 'vertex.cached', vertex: v('a', 'fetch'), at: new Date(0) });
    r.onEvent({ type: 'vertex.started', vertex: v('b', 'build'), started: new Date(0) });
    r.onEvent({
      type: 'vertex.log',
      vertex: v('b', 'build'),
      stream: 'stdout',
      line: 'compiling',
      timestamp: new Date(0),
    });
    r.onEvent({
      type: 'vertex.completed',
      vertex: v('b', 'build'),
      started: new Date(0),
      completed: new Date(18_300),
      durationMs: 18_300,
    });
    r.onEvent({ type: 'vertex.started', vertex: v('c', 'test'), started: new Date(0) });
    r.onEvent({
      type: 'vertex.errored',
      vertex: v('c', 'test'),
      error: 'exit code: 1',
      started: new Date(0),
      completed: new Date(1200),
      durationMs: 1200,
    });
    r.finish({ total: 3, cached: 1, executed: 1, errored: 1, durationMs: 19_500 });
    expect(out).toBe(
      [
        '[1/3] fetch',
        '  -> fetch (0.0s) [CACHED]',
        '[2/3] build',
        '    | compiling',
        '  -> build (18.3s) [done]',
        '[3/3] test',
        '  -> test (1.2s) [ERROR]',
        '     exit code: 1',
        '',
        'Total steps: 3',
        'Cached: 1',
        'Executed: 1',
        'Failed: 1',
        'Duration: 19.5s',
        '',
      ].join('\n'),
    );
  });

  it('on a TTY redraws a status line of running steps in place', () => {
    let out = '';
    let now = 10_000;
    const r = new ProgressRenderer({
      out: { write: (s: string) => (out += s), isTTY: true },
      now: () => now,
    });
    r.onEvent({
      type: 'vertex.started',
      vertex: { digest: 'b', name: 'build', inputs: [] },
      started: new Date(8_000),
    });
    now = 12_500;
    r.onEvent({
      type: 'vertex.log',
      vertex: { digest: 'b', name: 'build', inputs: [] },
      stream: 'stdout',
      line: 'x',
      timestamp: new Date(0),
    });
    r.onEvent({
      type: 'vertex.started',
      vertex: { digest: 'c', name: 'other', inputs: [] },
      started: new Date(12_000),
    });
    expect(out).toContain('\r\x1b[Krunning: build (2.0s)');
    expect(out).toContain('\r\x1b[Krunning: build (4.5s), other (0.5s)');
    r.stop();
  });
});
