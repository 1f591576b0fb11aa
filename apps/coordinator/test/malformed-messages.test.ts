// Whatever arrives on the report and event subjects goes through the protocol's decoders: a
// malformed or foreign-version message is refused and logged, never taken, and the run goes on.
import { answerCodec, type BuildReport, natsLink, openJobQueue } from '@melange2/protocol';
import { describe, expect, it } from 'vitest';
import { runDistributed } from '@melange2/coordinator';
import { oneBuildOverNats } from './nats-fixture.js';

describe('malformed messages from agents (real NATS)', () => {
  const f = oneBuildOverNats('bad');

  it('are refused and logged; the coordinator carries on and takes only the valid report', async () => {
    const { nc, names: n } = f;
    const heartbeat = { type: 'heartbeat', agent: 'fake', arch: 'x86_64', slots: 1, busy: 0, alive: true };
    const stopBeats = f.heartbeats();
    const queue = await openJobQueue(nc, f.ns);
    const logged: string[] = [];
    const answers: unknown[] = [];
    try {
      const run = runDistributed({ ...f.options(), log: (line) => logged.push(line) });
      const job = await (await queue.consumer('x86_64')).next({ expiresMs: 20_000 });
      expect(job?.data.name).toBe('base-files');
      const forged: BuildReport = {
        runId: job!.data.runId,
        id: job!.data.id,
        attempt: job!.data.attempt,
        token: job!.data.token,
        agent: 'forger',
        durationMs: 1,
        outcome: { kind: 'failed', stage: 'solve', message: 'forged', logTail: [] },
      };
      // Events: not JSON, no version, a future version, a heartbeat missing its slots.
      nc.publish(n.events, 'not json');
      nc.publish(n.events, JSON.stringify(heartbeat));
      nc.publish(n.events, JSON.stringify({ ...heartbeat, protocol: 3 }));
      nc.publish(n.events, JSON.stringify({ protocol: 2, type: 'heartbeat', agent: 'x', arch: 'x86_64' }));
      // Reports that name the right build but do not decode: refused, so the build stays open.
      for (const body of [
        JSON.stringify(forged),
        JSON.stringify({ ...forged, protocol: 99 }),
        JSON.stringify({ protocol: 2, ...forged, outcome: { kind: 'failed' } }),
        '{"protocol":2,',
        'x'.repeat(600 * 1024),
      ]) {
        const m = await nc.request(n.results, body, { timeout: 10_000 });
        answers.push(answerCodec.decode(m.data));
      }
      // Then the real report, as an agent sends it.
      const real: BuildReport = {
        ...forged,
        agent: 'fake',
        outcome: { kind: 'failed', stage: 'solve', message: 'real', logTail: [] },
      };
      const ack = await natsLink(nc, f.ns).report(real);
      expect(ack).toEqual({ ok: true });
      job!.term();
      const r = await run;
      expect(r.rows).toMatchObject([
        { build: { name: 'base-files' }, state: 'failed', reason: 'solve failed: real', agent: 'fake' },
      ]);
      expect(answers).toEqual(Array(5).fill({ ok: false, error: expect.stringMatching(/^report: /) }));
      expect(answers[0]).toEqual({ ok: false, error: 'report: no protocol version (this build speaks 2)' });
      expect(answers[4]).toMatchObject({ error: expect.stringMatching(/more than the \d+ allowed/) });
      expect(logged.filter((l) => l.startsWith(`dropped a message on ${n.events}: event: `))).toHaveLength(4);
      expect(logged.filter((l) => l.startsWith(`refused a message on ${n.results}: report: `))).toHaveLength(
        5,
      );
    } finally {
      stopBeats();
      await queue.close();
    }
  }, 60_000);
});
