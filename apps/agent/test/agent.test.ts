import { ConnectError } from '@melange2/buildkit';
import { BuildError, EnvironmentError } from '@melange2/engine';
import { MemoryWorkQueue } from '@melange2/queue';
import { describe, expect, it } from 'vitest';
import { Agent } from '@melange2/agent';
import { classify, type Executor } from '@melange2/agent/internal';
import {
  type AgentEvent,
  type BuildJob,
  type BuildReport,
  type CoordinatorLink,
  jobMessageId,
  parseJobMessageId,
  ReportRefusedError,
  stagingKey,
} from '@melange2/protocol';

const job = (name: string, attempt = 1): BuildJob => ({
  runId: 'r1',
  id: `${name}@x86_64`,
  name,
  arch: 'x86_64',
  version: '1.0.0-r0',
  configFile: `${name}.yaml`,
  attempt,
  token: 'a1'.repeat(32),
});

function recorder(): CoordinatorLink & { reports: BuildReport[]; events: AgentEvent[] } {
  const reports: BuildReport[] = [];
  const events: AgentEvent[] = [];
  return {
    reports,
    events,
    event: (e) => events.push(e),
    report: async (r) => {
      reports.push(r);
      return { ok: true };
    },
  };
}

/** Agent a1 with one x86_64 slot on `queue`, reporting to `link`. */
const oneSlot = (
  queue: MemoryWorkQueue<BuildJob>,
  link: CoordinatorLink,
  o: Omit<ConstructorParameters<typeof Agent>[0], 'id' | 'arch' | 'slots' | 'queue' | 'link'>,
) => new Agent({ id: 'a1', arch: 'x86_64', slots: 1, queue, link, ...o });

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const solveFailure = () =>
  new BuildError('solve', 'x.yaml', 'x86_64', 'step "compile" failed with exit code 3', {
    step: { digest: 'd', name: 'compile', exitCode: 3, error: 'exit 3', logTail: ['boom'] },
  });

describe('classify', () => {
  it('a failed step or a bad config is deterministic; an unreachable daemon is transient', () => {
    expect(classify(solveFailure())).toMatchObject({
      kind: 'deterministic',
      stage: 'solve',
      logTail: ['boom'],
    });
    expect(classify(new BuildError('config', 'x.yaml', 'x86_64', 'bad field'))).toMatchObject({
      kind: 'deterministic',
    });
    const lost = new BuildError(
      'solve',
      'x.yaml',
      'x86_64',
      'x',
      {},
      { cause: new ConnectError('unix:///s', 'ECONNREFUSED') },
    );
    expect(classify(lost).kind).toBe('transient');
    expect(
      classify(
        new BuildError('environment', 'x.yaml', 'x86_64', 'http://repo/x86_64/APKINDEX.tar.gz: fetch failed'),
      ).kind,
    ).toBe('transient');
    expect(classify(new Error('object store write timed out')).kind).toBe('transient');
  });

  it('an environment that would install an older provider of a name the run is still to produce is awaiting, not a failure', () => {
    const e = new BuildError(
      'environment',
      'bc.yaml',
      'x86_64',
      'environment',
      {},
      {
        cause: new EnvironmentError('awaiting', 'would install flex-2.6-r0 for flex', {
          arch: 'x86_64',
          pkg: 'flex',
        }),
      },
    );
    expect(classify(e)).toEqual({
      kind: 'awaiting',
      name: 'flex',
      message: 'would install flex-2.6-r0 for flex',
    });
  });

  it('message ids and staging keys round-trip names with + and @', () => {
    expect(parseJobMessageId(jobMessageId('r1', 'libstdc++@aarch64', 3))).toEqual({
      runId: 'r1',
      id: 'libstdc++@aarch64',
      attempt: 3,
    });
    expect(stagingKey(job('libstdc++'), 'libstdc++-1.0.0-r0.apk')).toBe(
      'r1/libstdc++_x86_64/1/x86_64/libstdc++-1.0.0-r0.apk',
    );
  });
});

describe('Agent on the in-process queue', () => {
  it('reports a success, then acks: the queue is empty', async () => {
    const q = new MemoryWorkQueue<BuildJob>();
    const link = recorder();
    const execute: Executor = async () => ({ kind: 'succeeded', apks: [], steps: { total: 3, cached: 1 } });
    const a = new Agent({ id: 'a1', arch: 'x86_64', slots: 1, queue: q, link, execute });
    a.start();
    await q.publish('x86_64', job('zlib'), { msgId: 'm1' });
    await until(() => link.reports.length === 1);
    await a.stop();
    expect(link.reports[0]).toMatchObject({ id: 'zlib@x86_64', agent: 'a1', outcome: { kind: 'succeeded' } });
    expect(link.events.map((e) => e.type)).toContain('started');
    expect(await q.depth('x86_64')).toEqual({ pending: 0, leased: 0 });
  });

  it('a slot pulls its next build while its report is on its way, with at most one report on its way', async () => {
    const q = new MemoryWorkQueue<BuildJob>();
    const offered: string[] = [];
    const takers: (() => void)[] = [];
    const events: AgentEvent[] = [];
    const link: CoordinatorLink = {
      event: (e) => events.push(e),
      // Taken only when the test says so (a coordinator slow to answer).
      report: (r) => {
        offered.push(r.id);
        return new Promise((resolve) => takers.push(() => resolve({ ok: true })));
      },
    };
    const execute: Executor = async () => ({ kind: 'succeeded', apks: [], steps: { total: 1, cached: 0 } });
    // Nothing pulled ahead of the slot (the default): one slot, one loop.
    const a = oneSlot(q, link, { execute });
    a.start();
    for (const n of ['a', 'b', 'c']) await q.publish('x86_64', job(n), { msgId: n });
    const started = () => events.filter((e) => e.type === 'started').map((e) => (e as { id: string }).id);
    // b started (and was built) while a's report waits; c is not pulled before a's report is taken.
    await until(() => offered.length === 2);
    expect(started()).toEqual(['a@x86_64', 'b@x86_64']);
    expect(a.busy).toBe(0);
    expect(await q.depth('x86_64')).toEqual({ pending: 1, leased: 2 });
    takers.shift()?.();
    await until(() => offered.length === 3);
    expect(started()).toEqual(['a@x86_64', 'b@x86_64', 'c@x86_64']);
    const stopped = a.stop();
    for (const take of takers.splice(0)) take();
    await until(() => takers.length === 0);
    await stopped;
    // Every report was taken before its ack, and the stop waited for the last ones.
    expect(offered).toEqual(['a@x86_64', 'b@x86_64', 'c@x86_64']);
    expect(await q.depth('x86_64')).toEqual({ pending: 0, leased: 0 });
  });

  it('while builds are short, pulls one build ahead of its slots, its lease kept, started once a slot frees', async () => {
    const q = new MemoryWorkQueue<BuildJob>({ ackWaitMs: 300 });
    const link = recorder();
    const release: (() => void)[] = [];
    const execute: Executor = (j) =>
      j.name === 'first'
        ? Promise.resolve({ kind: 'succeeded', apks: [], steps: { total: 1, cached: 0 } })
        : new Promise((resolve) =>
            release.push(() => resolve({ kind: 'succeeded', apks: [], steps: { total: 1, cached: 0 } })),
          );
    const a = oneSlot(q, link, { execute, prefetch: 1, prefetchBelowMs: 60_000 });
    a.start();
    expect(a.prefetching).toBe(0);
    await q.publish('x86_64', job('first'), { msgId: 'first' });
    await until(() => link.reports.length === 1);
    // One short build seen: one build pulled ahead from now on, and the coordinator is told.
    expect(a.prefetching).toBe(1);
    expect(link.events.at(-1)).toMatchObject({ type: 'heartbeat', slots: 1, prefetch: 1 });
    for (const n of ['b', 'c', 'd']) await q.publish('x86_64', job(n), { msgId: n });
    await until(() => release.length === 1);
    // b builds, c waits on the agent past its lease (kept alive), d stays queued.
    await new Promise((r) => setTimeout(r, 700));
    expect(await q.depth('x86_64')).toEqual({ pending: 1, leased: 2 });
    const started = () =>
      link.events.filter((e) => e.type === 'started').map((e) => (e as { id: string }).id);
    expect(started()).toEqual(['first@x86_64', 'b@x86_64']);
    release.shift()?.();
    await until(() => release.length === 1);
    expect(started()).toEqual(['first@x86_64', 'b@x86_64', 'c@x86_64']);
    const stopped = a.stop();
    // Stopping: the build held ahead (d) is built too, then nothing more is taken.
    release.shift()?.();
    await until(() => release.length === 1);
    release.shift()?.();
    await stopped;
    expect(link.reports.map((r) => r.id)).toEqual(['first@x86_64', 'b@x86_64', 'c@x86_64', 'd@x86_64']);
    expect(link.reports.every((r) => r.attempt === 1)).toBe(true);
    expect(await q.depth('x86_64')).toEqual({ pending: 0, leased: 0 });
  });

  it('pulls nothing ahead while builds are long', async () => {
    const q = new MemoryWorkQueue<BuildJob>();
    const link = recorder();
    const release: (() => void)[] = [];
    const execute: Executor = () =>
      new Promise((resolve) =>
        release.push(() => resolve({ kind: 'succeeded', apks: [], steps: { total: 1, cached: 0 } })),
      );
    const a = oneSlot(q, link, { execute, prefetch: 1, prefetchBelowMs: 0 });
    a.start();
    for (const n of ['a', 'b', 'c']) await q.publish('x86_64', job(n), { msgId: n });
    for (let i = 0; i < 2; i++) {
      await until(() => release.length === 1);
      await new Promise((r) => setTimeout(r, 50));
      expect(await q.depth('x86_64')).toEqual({ pending: 2 - i, leased: 1 });
      release.shift()?.();
    }
    expect(a.prefetching).toBe(0);
    await until(() => release.length === 1);
    const stopped = a.stop();
    release.shift()?.();
    await stopped;
    expect(link.events.some((e) => e.type === 'heartbeat' && e.prefetch !== undefined)).toBe(false);
  });

  it('reports awaiting and acks the attempt (the coordinator dispatches it again)', async () => {
    const q = new MemoryWorkQueue<BuildJob>();
    const link = recorder();
    const execute: Executor = async () => {
      throw new BuildError(
        'environment',
        'bc.yaml',
        'x86_64',
        'environment',
        {},
        {
          cause: new EnvironmentError('awaiting', 'would install m4-1-r0', { arch: 'x86_64', pkg: 'm4' }),
        },
      );
    };
    const a = new Agent({ id: 'a1', arch: 'x86_64', slots: 1, queue: q, link, execute });
    a.start();
    await q.publish('x86_64', { ...job('bc'), awaiting: ['m4'] }, { msgId: 'm1' });
    await until(() => link.reports.length === 1);
    await a.stop();
    expect(link.reports[0]!.outcome).toEqual({
      kind: 'awaiting',
      name: 'm4',
      message: 'would install m4-1-r0',
    });
    expect(await q.depth('x86_64')).toEqual({ pending: 0, leased: 0 });
  });

  it.each([
    ['refused at once (no coordinator answers)', () => Promise.reject(new Error('503 no responders'))],
    ['never answered (a request in flight)', () => new Promise<never>(() => {})],
  ])('stopping, a report %s is given up after drainReportMs; the build stays leased', async (_, report) => {
    const q = new MemoryWorkQueue<BuildJob>({ ackWaitMs: 60_000 });
    let tries = 0;
    const link: CoordinatorLink = {
      event: () => {},
      report: () => {
        tries++;
        return report();
      },
    };
    const execute: Executor = async () => ({ kind: 'succeeded', apks: [], steps: { total: 1, cached: 0 } });
    const a = new Agent({ id: 'a1', arch: 'x86_64', slots: 1, queue: q, link, execute, drainReportMs: 200 });
    a.start();
    await q.publish('x86_64', job('zlib'), { msgId: 'm1' });
    await until(() => tries > 0);
    await a.stop();
    expect(a.unreported).toEqual(['zlib@x86_64']);
    // Neither acked nor terminated: redelivered once the lease runs out.
    expect(await q.depth('x86_64')).toEqual({ pending: 0, leased: 1 });
    await q.close();
  });

  it('a report refused for good is not offered again; the message is terminated, not left leased', async () => {
    const q = new MemoryWorkQueue<BuildJob>({ ackWaitMs: 60_000 });
    let tries = 0;
    const logged: string[] = [];
    const link: CoordinatorLink = {
      event: () => {},
      report: async () => {
        tries++;
        throw new ReportRefusedError('report refused (staged-mismatch): swapped', 'staged-mismatch');
      },
    };
    const execute: Executor = async () => ({ kind: 'succeeded', apks: [], steps: { total: 1, cached: 0 } });
    const a = new Agent({
      id: 'a1',
      arch: 'x86_64',
      slots: 1,
      queue: q,
      link,
      execute,
      log: (l) => logged.push(l),
    });
    a.start();
    await q.publish('x86_64', job('zlib'), { msgId: 'm1' });
    await until(() => tries > 0);
    await a.stop();
    expect(tries).toBe(1);
    expect(await q.depth('x86_64')).toEqual({ pending: 0, leased: 0 });
    expect(a.unreported).toEqual([]);
    expect(logged.join('\n')).toMatch(
      /report of zlib@x86_64 was refused for good: report refused \(staged-mismatch\)/,
    );
    await q.close();
  });

  it('a failed step is reported with its log tail and never delivered again', async () => {
    const q = new MemoryWorkQueue<BuildJob>();
    const link = recorder();
    let calls = 0;
    const a = new Agent({
      id: 'a1',
      arch: 'x86_64',
      slots: 1,
      queue: q,
      link,
      execute: async () => {
        calls++;
        throw solveFailure();
      },
    });
    a.start();
    await q.publish('x86_64', job('broken'), { msgId: 'm1' });
    await until(() => link.reports.length === 1);
    await new Promise((r) => setTimeout(r, 200));
    await a.stop();
    expect(calls).toBe(1);
    expect(link.reports[0]?.outcome).toMatchObject({ kind: 'failed', stage: 'solve', logTail: ['boom'] });
  });

  it('a transient fault (the coordinator answers) is given back with a backoff and succeeds on the next delivery', async () => {
    const q = new MemoryWorkQueue<BuildJob>();
    const link = recorder();
    let calls = 0;
    let asked = 0;
    const a = oneSlot(q, link, {
      retryBaseMs: 50,
      repositoryAnswers: async () => ++asked > 0,
      execute: async () => {
        if (++calls === 1) throw new ConnectError('unix:///gone.sock', 'ECONNREFUSED');
        return { kind: 'succeeded', apks: [], steps: { total: 1, cached: 0 } };
      },
    });
    a.start();
    await q.publish('x86_64', job('zlib'), { msgId: 'm1' });
    await until(() => link.reports.length === 1);
    await a.stop();
    expect(calls).toBe(2);
    expect(asked).toBe(1);
    expect(link.events.find((e) => e.type === 'transient')).toMatchObject({
      message: expect.stringMatching(/gone\.sock/),
    });
    expect(link.reports[0]?.outcome.kind).toBe('succeeded');
  });

  it('a transient fault while the coordinator is away waits for it and goes again on the same delivery', async () => {
    const q = new MemoryWorkQueue<BuildJob>({ maxDeliver: 1 });
    const link = recorder();
    const lines: string[] = [];
    let calls = 0;
    let away = true;
    const a = oneSlot(q, link, {
      log: (l) => lines.push(l),
      repositoryAnswers: async () => !away,
      execute: async () => {
        if (++calls === 1) throw new Error('http://127.0.0.1:1/x86_64/APKINDEX.tar.gz: fetch failed');
        return { kind: 'succeeded', apks: [], steps: { total: 1, cached: 0 } };
      },
    });
    const dead: unknown[] = [];
    q.onDead((d) => dead.push(d));
    a.start();
    await q.publish('x86_64', job('zlib'), { msgId: 'm1' });
    await until(() => lines.some((l) => l.includes('waiting for the coordinator')));
    expect(calls).toBe(1);
    away = false;
    await until(() => link.reports.length === 1);
    await a.stop();
    // One delivery (the queue allows no other): nothing given back, nothing dead.
    expect(calls).toBe(2);
    expect(dead).toEqual([]);
    expect(link.events.filter((e) => e.type === 'transient')).toEqual([]);
    expect(link.reports[0]?.outcome.kind).toBe('succeeded');
  });

  it('an agent stopped while it waits for the coordinator gives the build back', async () => {
    const q = new MemoryWorkQueue<BuildJob>();
    const link = recorder();
    const lines: string[] = [];
    const a = oneSlot(q, link, {
      retryBaseMs: 60_000,
      log: (l) => lines.push(l),
      repositoryAnswers: async () => false,
      execute: async () => {
        throw new Error('http://127.0.0.1:1/x86_64/APKINDEX.tar.gz: fetch failed');
      },
    });
    a.start();
    await q.publish('x86_64', job('zlib'), { msgId: 'm1' });
    await until(() => lines.some((l) => l.includes('waiting for the coordinator')));
    await a.stop();
    expect(link.events.filter((e) => e.type === 'transient')).toHaveLength(1);
    expect(link.reports).toEqual([]);
    // Given back (nak, with its backoff): waiting again, not leased.
    expect(await q.depth('x86_64')).toEqual({ pending: 1, leased: 0 });
    await q.close();
  });

  it('an agent killed mid-build leaves the lease to run out; another agent builds it', async () => {
    const q = new MemoryWorkQueue<BuildJob>({ ackWaitMs: 300 });
    const link = recorder();
    const slow: Executor = (_j, ctx) =>
      new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('cancelled'))));
    const first = new Agent({ id: 'dies', arch: 'x86_64', slots: 1, queue: q, link, execute: slow });
    first.start();
    await q.publish('x86_64', job('zlib'), { msgId: 'm1' });
    await until(() => link.events.some((e) => e.type === 'started'));
    await first.kill();
    const second = new Agent({
      id: 'lives',
      arch: 'x86_64',
      slots: 1,
      queue: q,
      link,
      execute: async () => ({ kind: 'succeeded', apks: [], steps: { total: 1, cached: 0 } }),
    });
    second.start();
    await until(() => link.reports.length === 1);
    await second.stop();
    expect(link.reports).toHaveLength(1);
    expect(link.reports[0]?.agent).toBe('lives');
  });

  it('a build that hangs past the timeout is abandoned and given back, then built on the next delivery', async () => {
    const q = new MemoryWorkQueue<BuildJob>();
    const link = recorder();
    let calls = 0;
    const a = new Agent({
      id: 'a1',
      arch: 'x86_64',
      slots: 1,
      queue: q,
      link,
      buildTimeoutMs: 100,
      retryBaseMs: 10,
      execute: async () => {
        if (++calls === 1) return new Promise(() => {});
        return { kind: 'succeeded', apks: [], steps: { total: 1, cached: 0 } };
      },
    });
    a.start();
    await q.publish('x86_64', job('hangs'), { msgId: 'm1' });
    await until(() => link.reports.length === 1);
    await a.stop();
    expect(link.events.find((e) => e.type === 'transient')).toMatchObject({
      message: expect.stringMatching(/still running after 0 s; abandoned/),
    });
    expect(link.reports[0]?.outcome.kind).toBe('succeeded');
  });
});
