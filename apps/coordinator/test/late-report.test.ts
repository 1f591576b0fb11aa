// A report that reaches a restarted coordinator while it is still starting up (an agent retrying
// the report of a build it finished while the coordinator was down) must settle that build.
import { type BuildReport, natsLink, openJobQueue, type ReportAck } from '@melange2/protocol';
import { describe, expect, it } from 'vitest';
import { runDistributed } from '@melange2/coordinator';
import { oneBuildOverNats } from './nats-fixture.js';

describe('a restarted coordinator and a late report (real NATS)', () => {
  const f = oneBuildOverNats('late');

  it('is taken once the interrupted run is claimed again, not answered stale and lost', async () => {
    // A fake agent: its heartbeats give the coordinator a slot; it pulls the job itself.
    const stopBeats = f.heartbeats();
    const options = f.options();
    const queue = await openJobQueue(f.nc, f.ns);
    try {
      const stop = new AbortController();
      const first = runDistributed({
        ...options,
        signal: stop.signal,
        onEvent: (e) => {
          if (e.type === 'dispatched') setTimeout(() => stop.abort(), 200);
        },
      });
      await expect(first).rejects.toThrow(/coordinator stopped/);
      const job = await (await queue.consumer('x86_64')).next({ expiresMs: 10_000 });
      expect(job?.data.name).toBe('base-files');
      const report: BuildReport = {
        runId: job!.data.runId,
        id: job!.data.id,
        attempt: job!.data.attempt,
        token: job!.data.token,
        agent: 'fake',
        durationMs: 1,
        outcome: { kind: 'failed', stage: 'solve', message: 'late report', logTail: [] },
      };
      // The report is retried from before the restart on, as an agent does (faster here).
      let answer: ReportAck | undefined;
      const reporting = (async () => {
        for (;;) {
          try {
            answer = await natsLink(f.nc, f.ns, { timeoutMs: 20_000 }).report(report);
            if (answer.stale) await job!.ack();
            else job!.term();
            return;
          } catch {
            await new Promise((r) => setTimeout(r, 2));
          }
        }
      })();
      const second = runDistributed(options);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('the resumed run did not settle base-files')), 30_000);
      });
      const r = await Promise.race([second, timeout]).finally(() => clearTimeout(timer));
      await reporting;
      expect(answer).toEqual({ ok: true });
      expect(r.rows).toMatchObject([
        { build: { name: 'base-files' }, state: 'failed', reason: 'solve failed: late report' },
      ]);
    } finally {
      stopBeats();
      await queue.close();
    }
  }, 60_000);
});
