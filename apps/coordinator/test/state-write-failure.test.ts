// A run whose state store fails a write: the coordinator logs what it can go on without and
// fails cleanly, with a named error, on what it cannot; it never leaves a rejection unhandled
// (which, with no handler, would kill the process).
import { Coordinator, RunStateError, type StateRecord } from '@melange2/coordinator';
import type { BuildJob } from '@melange2/protocol';
import { MemoryStateStore, MemoryWorkQueue } from '@melange2/queue';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { coordinatorOptions, localRun, reportOn, runBuild } from './run-build.js';

/** Fails every write whose key and record `fails` picks. */
class FailingStateStore extends MemoryStateStore<StateRecord> {
  constructor(readonly fails: (key: string, value: StateRecord) => boolean) {
    super('failing');
  }
  override async put(key: string, value: StateRecord): Promise<number> {
    if (this.fails(key, value)) throw new Error('KV write timed out');
    return super.put(key, value);
  }
}

const local = localRun('m2-state-fail-');
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);

beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
});
afterEach(() => {
  expect(unhandled).toEqual([]);
});

/** A coordinator over `state` for `lib` and its dependent `app`, and a fake agent failing `lib`. */
async function runFailingLib(state: FailingStateStore) {
  const builds = [runBuild('lib'), runBuild('app', ['lib@x86_64'])];
  const queue = new MemoryWorkQueue<BuildJob>();
  const logged: string[] = [];
  const c = new Coordinator(
    coordinatorOptions(local, builds, { queue, state, log: (line) => logged.push(line) }),
  );
  const run = c.run();
  c.agentEvent({ type: 'heartbeat', agent: 'a', arch: 'x86_64', slots: 1, busy: 0, alive: true });
  const d = await (await queue.consumer('x86_64')).next({ expiresMs: 5000 });
  expect(d?.data.name).toBe('lib');
  const report = c.report(
    reportOn(d!.data, { kind: 'failed', stage: 'solve', message: 'exit 2', logTail: ['boom'] }),
  );
  return { run, report, logged, queue };
}

describe('a state store that fails a write', () => {
  it('recording a failed or skipped build: logged, and the run finishes', async () => {
    const state = new FailingStateStore(
      (_, v) => v.kind === 'build' && (v.state === 'failed' || v.state === 'skipped'),
    );
    const { run, report, logged, queue } = await runFailingLib(state);
    await expect(report).resolves.toEqual({ ok: true });
    const r = await run;
    await queue.close();
    expect(r.rows.map((x) => [x.build.name, x.state, x.reason])).toEqual([
      ['lib', 'failed', 'solve failed: exit 2'],
      ['app', 'skipped', 'dependency failed: lib'],
    ]);
    expect(logged.sort()).toEqual([
      'run state: writing build.x86_64.app failed: KV write timed out (the run goes on)',
      'run state: writing build.x86_64.lib failed: KV write timed out (the run goes on)',
    ]);
  });

  it('recording the failure by input: the report is refused and the run fails with RunStateError', async () => {
    const state = new FailingStateStore((k) => k.startsWith('failure.'));
    const { run, report, queue } = await runFailingLib(state);
    await expect(report).rejects.toThrow(RunStateError);
    await expect(run).rejects.toMatchObject({
      name: 'RunStateError',
      code: 'run-state-write',
      key: 'failure.x86_64.lib',
      cause: { message: 'KV write timed out' },
    });
    await queue.close();
  });
});
