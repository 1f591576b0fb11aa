// The distributed mode's run timeline: kept in the namespace's object store, and the dashboard
// on the coordinator's HTTP address while the run goes.
import { type BuildReport, natsLink, ObjectLogStore, openJobQueue } from '@melange2/protocol';
import { runDistributed } from '@melange2/coordinator';
import { findRun, ObjectRunStore } from '@melange2/coordinator/internal';
import { describe, expect, it } from 'vitest';
import { oneBuildOverNats } from './nats-fixture.js';

describe('run timeline over NATS (real JetStream)', () => {
  const f = oneBuildOverNats('tl');

  it('serves the dashboard on the repository address and stores the timeline in <ns>_runs', async () => {
    const stopBeats = f.heartbeats();
    const queue = await openJobQueue(f.nc, f.ns);
    let url = '';
    // A run a coordinator left running when it crashed: a build out on an agent, its log running.
    const runs = await ObjectRunStore.open(f.nc, f.names.runs);
    const crashedAt = Date.now() - 60_000;
    await runs.put({
      version: 1,
      runId: 'crashed',
      repo: '/r',
      arches: ['x86_64'],
      status: 'running',
      startedAt: crashedAt - 5000,
      builds: [
        {
          id: 'a@x86_64',
          name: 'a',
          arch: 'x86_64',
          version: '1-r0',
          deps: [],
          state: 'running',
          attempts: 1,
          dispatchedAt: crashedAt - 1000,
          startedAt: crashedAt,
          agent: 'gone',
          slot: 0,
        },
        {
          id: 'b@x86_64',
          name: 'b',
          arch: 'x86_64',
          version: '1-r0',
          deps: [],
          state: 'queued',
          attempts: 0,
        },
      ],
      upToDate: [],
      agents: [],
    });
    const logs = await ObjectLogStore.open(f.nc, f.ns);
    const live = await logs.begin({
      runId: 'crashed',
      arch: 'x86_64',
      name: 'a',
      attempt: 1,
      agent: 'gone',
      state: 'running',
      startedAt: crashedAt,
    });
    await live.close();
    try {
      const run = runDistributed({
        ...f.options(),
        onPlan: (_p, _id, _r, u) => {
          url = u;
        },
      });
      const job = await (await queue.consumer('x86_64')).next({ expiresMs: 20_000 });
      expect(job?.data.name).toBe('base-files');
      const runId = job!.data.runId;
      // While it runs: the runs list has it, running; the page and its trace are served.
      const list = (await (await fetch(`${url}/api/runs`)).json()) as { runId: string; status: string }[];
      expect(list[0]).toMatchObject({ runId, status: 'running' });
      const page = await fetch(`${url}/runs/${runId}/`);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      expect(await page.text()).toContain('/dashboard/app.js');
      expect((await fetch(`${url}/dashboard/app.js`)).status).toBe(200);
      expect((await fetch(`${url}/speedscope/index.html`)).status).toBe(200);
      expect((await fetch(`${url}/runs/..%2Fx/trace.json`)).status).toBe(404);
      const report: BuildReport = {
        runId,
        id: job!.data.id,
        attempt: job!.data.attempt,
        token: job!.data.token,
        agent: 'fake',
        durationMs: 1,
        outcome: { kind: 'failed', stage: 'solve', message: 'no compiler', logTail: ['cc: not found'] },
      };
      await natsLink(f.nc, f.ns, { timeoutMs: 20_000 }).report(report);
      job!.term();
      const r = await run;
      expect(r.rows[0]?.state).toBe('failed');
      const store = await ObjectRunStore.open(f.nc, f.names.runs);
      const t = await findRun(store, undefined);
      expect(t.runId).toBe(runId);
      expect(t.status).toBe('finished');
      expect(t.builds).toMatchObject([
        {
          id: 'base-files@x86_64',
          state: 'failed',
          reason: 'solve failed: no compiler',
          logTail: ['cc: not found'],
        },
      ]);
      expect(t.builds[0]!.dispatchedAt).toBeTypeOf('number');
      expect(t.agents.map((a) => a.id)).toContain('fake');
      // The crashed run was closed as this one began: its running build cancelled, its log too.
      const crashed = await store.get('crashed');
      expect(crashed).toMatchObject({ status: 'finished', finishedAt: crashedAt });
      expect(crashed?.builds.map((b) => [b.id, b.state, b.finishedAt])).toEqual([
        ['a@x86_64', 'cancelled', crashedAt],
        ['b@x86_64', 'queued', undefined],
      ]);
      expect((await logs.ref({ runId: 'crashed', arch: 'x86_64', name: 'a' }))?.state).toBe('cancelled');
      // Stored gzipped; a plain timeline (as written before) still reads.
      const gz = await store.os.getBlob(`${runId}.json`);
      expect([gz?.[0], gz?.[1]]).toEqual([0x1f, 0x8b]);
      const plain = { ...t, runId: `${runId}-plain` };
      await store.os.putBlob(
        { name: `${plain.runId}.json` },
        new TextEncoder().encode(JSON.stringify(plain)),
      );
      expect(await store.get(plain.runId)).toEqual(plain);
      await store.os.putBlob({ name: `${runId}-bad.json` }, new Uint8Array([0x1f, 0x8b, 8, 0, 1, 2, 3]));
      await expect(store.get(`${runId}-bad`)).rejects.toMatchObject({ code: 'timeline-invalid' });
    } finally {
      stopBeats();
      await queue.close();
    }
  });
});
