// A build's dependents go out as soon as it is published, before its `succeeded` record is
// written (a state write less on the critical path per level), and the agent's answer does not
// wait for that record either: a restart resumes from the published index and the work queue,
// and the record only keeps the build's duration for the next run.
import { Coordinator, type StateRecord } from '@melange2/coordinator';
import type { BuildJob } from '@melange2/protocol';
import { MemoryStateStore, MemoryWorkQueue } from '@melange2/queue';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { coordinatorOptions, localRun, reportOn, runBuild } from './run-build.js';

/** Holds every `succeeded` build record until `release()`. */
class HeldStateStore extends MemoryStateStore<StateRecord> {
  readonly held: string[] = [];
  #release: () => void = () => {};
  readonly #released = new Promise<void>((r) => {
    this.#release = r;
  });
  release(): void {
    this.#release();
  }
  override async put(key: string, value: StateRecord): Promise<number> {
    if (value.kind === 'build' && value.state === 'succeeded') {
      this.held.push(key);
      await this.#released;
    }
    return super.put(key, value);
  }
}

const local = localRun('m2-release-early-');
afterEach(() => {
  vi.useRealTimers();
});

describe('a published build releases its dependents', () => {
  it('before its succeeded record is written; its report is answered without waiting for it', async () => {
    const state = new HeldStateStore();
    const queue = new MemoryWorkQueue<BuildJob>();
    const c = new Coordinator(
      coordinatorOptions(local, [runBuild('lib'), runBuild('app', ['lib@x86_64'])], { queue, state }),
    );
    // The coordinator's periodic pump never fires here: only a release can dispatch app.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const run = c.run();
    c.agentEvent({ type: 'heartbeat', agent: 'a', arch: 'x86_64', slots: 2, busy: 0, alive: true });
    const consumer = await queue.consumer('x86_64');
    const succeeded = (job: BuildJob) => c.report(reportOn(job));
    const lib = await consumer.next({ expiresMs: 5000 });
    expect(lib?.data.name).toBe('lib');
    const libReport = succeeded(lib!.data);
    // lib's record is held: app is on the queue all the same, and lib's agent has its answer.
    const app = await consumer.next({ expiresMs: 5000 });
    expect(app?.data.name).toBe('app');
    expect(state.held).toEqual(['build.x86_64.lib']);
    await expect(libReport).resolves.toEqual({ ok: true });
    state.release();
    await expect(succeeded(app!.data)).resolves.toEqual({ ok: true });
    const r = await run;
    expect(r.rows.map((x) => [x.build.name, x.state])).toEqual([
      ['lib', 'succeeded'],
      ['app', 'succeeded'],
    ]);
    expect((await state.get('build.x86_64.lib'))?.value).toMatchObject({ state: 'succeeded' });
    await queue.close();
  });
});
