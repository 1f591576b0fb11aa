// A job can run out of deliveries while no coordinator runs (its agents' BuildKit fails, or they
// crash on it, again and again). The restarted coordinator resumes it from the work queue and
// sends it again under the same message id, which NATS drops as a duplicate for two minutes: the
// build would never settle. The max-deliveries advisory that nobody heard is kept in the queue's
// dead-letter stream, so the restarted run learns the job is dead and fails the build as a
// running coordinator would have, and the run ends (on the real nats-server). And a build whose
// job died while a coordinator ran, which then crashed, goes again as a new attempt.
import { Coordinator, type StateRecord } from '@melange2/coordinator';
import { type BuildJob, natsNames, openJobQueue } from '@melange2/protocol';
import { deadLetterStream, MemoryStateStore, type WorkQueue } from '@melange2/queue';
import { natsNamespaces } from '@melange2/test/harness';
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it, vi } from 'vitest';
import { coordinatorOptions, localRun, reportOn, runBuild } from './run-build.js';

const nats = natsNamespaces('dead');
const local = localRun('m2-dead-down-');

/** Two deliveries, and leases long enough that only the agent's naks use them up. */
const limits = { maxDeliver: 2, ackWaitMs: 60_000 };

const libAndApp = () => [runBuild('lib'), runBuild('app', ['lib@x86_64'])];

/** A coordinator of run r1 (by default lib, and app on top of it) with one agent slot, running. */
function start(queue: WorkQueue<BuildJob>, state: MemoryStateStore<StateRecord>, builds = libAndApp()) {
  const c = new Coordinator(coordinatorOptions(local, builds, { queue, state }));
  const run = c.run();
  c.agentEvent({ type: 'heartbeat', agent: 'a', arch: 'x86_64', slots: builds.length, busy: 0, alive: true });
  return { c, run };
}

describe('a job dead of max deliveries while no coordinator runs (real JetStream)', () => {
  it('the restarted run fails that build as a running coordinator would, and ends', async () => {
    const ns = nats.fresh();
    const state = new MemoryStateStore<StateRecord>('s');
    const before = await openJobQueue(nats.nc, ns, { limits });
    const first = start(before, state);
    const agent = await before.consumer('x86_64');
    const lib = await agent.next({ expiresMs: 5000 });
    expect(lib?.data.name).toBe('lib');
    // The coordinator crashes; nothing listens for advisories now.
    first.c.stop();
    await expect(first.run).rejects.toThrow(/coordinator stopped/);
    await before.close();

    // Its agent fails the job on every delivery: it runs out of them.
    lib!.nak();
    (await agent.next({ expiresMs: 5000 }))?.nak();
    expect(await agent.next({ expiresMs: 1500 })).toBeNull();
    const jsm = await jetstreamManager(nats.nc);
    const dead = deadLetterStream(natsNames(ns).stream);
    await vi.waitFor(async () => expect((await jsm.streams.info(dead)).state.messages).toBe(1));

    // Within the duplicate window: the re-send of lib is dropped, the dead letter settles it.
    const after = await openJobQueue(nats.nc, ns, { limits });
    try {
      const r = await start(after, state).run;
      expect(r.rows.map((x) => [x.build.name, x.state])).toEqual([
        ['lib', 'failed'],
        ['app', 'skipped'],
      ]);
      expect(r.rows[0]?.reason).toMatch(/^gave up after 2 deliveries/);
      // The dead job is gone from the work queue, and its advisory from the dead letters.
      expect(await after.stored({ max: 10 })).toEqual([]);
      await vi.waitFor(async () => expect((await jsm.streams.info(dead)).state.messages).toBe(0));
    } finally {
      await after.close();
    }
  });

  it('a build whose job died while a coordinator ran, which then crashed, goes again as the next attempt', async () => {
    const ns = nats.fresh();
    const state = new MemoryStateStore<StateRecord>('s');
    const before = await openJobQueue(nats.nc, ns, { limits });
    const first = start(before, state, [runBuild('lib'), runBuild('other')]);
    const agent = await before.consumer('x86_64');
    const jobs = [await agent.next({ expiresMs: 5000 }), await agent.next({ expiresMs: 5000 })];
    const lib = jobs.find((j) => j?.data.name === 'lib')!;
    const other = jobs.find((j) => j?.data.name === 'other')!;
    // lib dies while the coordinator runs: it is told, and removes the job.
    lib.nak();
    (await agent.next({ expiresMs: 5000 }))?.nak();
    expect(await agent.next({ expiresMs: 1500 })).toBeNull();
    await vi.waitFor(async () =>
      expect((await before.stored({ max: 10 })).map((m) => m.data.name)).toEqual(['other']),
    );
    // Then it crashes, before the run ended (other is still being built).
    first.c.stop();
    await expect(first.run).rejects.toThrow(/coordinator stopped/);
    await before.close();

    // Restarted within the duplicate window: other is resumed, lib's attempt 1 is dropped as a
    // duplicate and goes again as attempt 2.
    const after = await openJobQueue(nats.nc, ns, { limits });
    try {
      const second = start(after, state, [runBuild('lib'), runBuild('other')]);
      const again = await agent.next({ expiresMs: 5000 });
      expect([again?.data.name, again?.data.attempt]).toEqual(['lib', 2]);
      await expect(second.c.report(reportOn(again!.data))).resolves.toEqual({ ok: true });
      await again!.ack();
      await expect(second.c.report(reportOn(other.data))).resolves.toEqual({ ok: true });
      await other.ack();
      const r = await second.run;
      expect(r.rows.map((x) => [x.build.name, x.state, x.attempts])).toEqual([
        ['lib', 'succeeded', 2],
        ['other', 'succeeded', 1],
      ]);
    } finally {
      await after.close();
    }
  });
});
