// A restart resumes what the interrupted run had in flight from the work queue itself (jobs not
// yet acked or terminated by an agent), not from a `dispatched` record per build: the job the
// agent holds is taken with the token it carries; a record a coordinator of the earlier layout
// wrote is still resumed.
import { Coordinator, type RunEvent, runIdFor, type StateRecord } from '@melange2/coordinator';
import { tokenHash } from '@melange2/coordinator/internal';
import type { BuildJob } from '@melange2/protocol';
import { MemoryStateStore, MemoryWorkQueue } from '@melange2/queue';
import { describe, expect, it } from 'vitest';
import { coordinatorOptions, localRun, reportOn, runBuild } from './run-build.js';

const local = localRun('m2-resume-queue-');

function coordinator(queue: MemoryWorkQueue<BuildJob>, state: MemoryStateStore<StateRecord>) {
  const events: RunEvent[] = [];
  const builds = [runBuild('lib'), runBuild('app', ['lib@x86_64'])];
  const c = new Coordinator(
    coordinatorOptions(local, builds, { queue, state, onEvent: (e) => events.push(e) }),
  );
  const run = c.run();
  c.agentEvent({ type: 'heartbeat', agent: 'a', arch: 'x86_64', slots: 1, busy: 0, alive: true });
  return { c, run, events };
}

describe('a restarted coordinator resumes from the work queue', () => {
  it('takes the report of the job an agent held across the restart; nothing is recorded per dispatch', async () => {
    const queue = new MemoryWorkQueue<BuildJob>();
    const state = new MemoryStateStore<StateRecord>('s');
    const first = coordinator(queue, state);
    const consumer = await queue.consumer('x86_64');
    const lib = await consumer.next({ expiresMs: 5000 });
    expect(lib?.data.name).toBe('lib');
    expect(await state.keys('build.')).toEqual([]);
    first.c.stop();
    await expect(first.run).rejects.toThrow(/coordinator stopped/);

    const second = coordinator(queue, state);
    // The agent still builds lib: its report (the first coordinator's token) is taken.
    await expect(second.c.report(reportOn(lib!.data))).resolves.toEqual({ ok: true });
    await lib!.ack();
    const app = await consumer.next({ expiresMs: 5000 });
    expect(app?.data.name).toBe('app');
    await expect(second.c.report(reportOn(app!.data))).resolves.toEqual({ ok: true });
    await app!.ack();
    const r = await second.run;
    expect(r.rows.map((x) => [x.build.name, x.state])).toEqual([
      ['lib', 'succeeded'],
      ['app', 'succeeded'],
    ]);
    // lib was claimed again under its message id (a duplicate), not dispatched as a new attempt.
    expect(
      second.events.filter((e) => e.type === 'dispatched').map((e) => [e.build.name, e.attempt]),
    ).toEqual([
      ['lib', 1],
      ['app', 1],
    ]);
    expect(await queue.stored({ max: 10 })).toEqual([]);
    await queue.close();
  });

  it('a `dispatched` record of the earlier layout is resumed too, with the tokens it names', async () => {
    const queue = new MemoryWorkQueue<BuildJob>();
    const state = new MemoryStateStore<StateRecord>('s');
    const first = coordinator(queue, state);
    const consumer = await queue.consumer('x86_64');
    const lib = await consumer.next({ expiresMs: 5000 });
    first.c.stop();
    await expect(first.run).rejects.toThrow(/coordinator stopped/);
    // The job is gone from the queue (as after the earlier layout's restart into a new queue),
    // but the record names its attempt and its token's hash.
    await lib!.ack();
    // And the run as the earlier layout recorded it (only `run`): resumed, and closed there too.
    const run = (await state.get('run.v2'))!.value;
    await state.delete('run.v2');
    await state.put('run', run);
    await state.put('build.x86_64.lib', {
      kind: 'build',
      runId: 'r1',
      state: 'dispatched',
      attempt: 1,
      version: '1.0-r0',
      tokens: [tokenHash(lib!.data.token)],
    });
    const second = coordinator(queue, state);
    await expect(second.c.report(reportOn(lib!.data))).resolves.toEqual({ ok: true });
    const app = await consumer.next({ expiresMs: 5000 });
    await expect(second.c.report(reportOn(app!.data))).resolves.toEqual({ ok: true });
    await second.run;
    expect((await state.get('run'))?.value).toMatchObject({ runId: 'r1', status: 'finished' });
    expect((await state.get('run.v2'))?.value).toMatchObject({ runId: 'r1', status: 'finished' });
    await queue.close();
  });
});

describe('the run record', () => {
  it('a run this layout began is under run.v2 (an earlier coordinator, reading `run`, starts afresh); a legacy one still resumes', async () => {
    const state = new MemoryStateStore<StateRecord>('s');
    const running = (runId: string) =>
      ({ kind: 'run', runId, repo: local.dir, arches: ['x86_64'], status: 'running', startedAt: 1 }) as const;
    expect(await runIdFor(state, local.dir)).toMatchObject({ resumed: false });
    await state.put('run', running('old'));
    expect(await runIdFor(state, local.dir)).toEqual({ runId: 'old', resumed: true });
    await state.put('run.v2', running('new'));
    expect(await runIdFor(state, local.dir)).toEqual({ runId: 'new', resumed: true });
  });
});
