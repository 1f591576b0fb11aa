// Both ends of the wire over a real nats-server: what one side encodes the other decodes, and
// what does not decode never reaches the other side's code.
import {
  type AgentEvent,
  type BuildJob,
  type BuildReport,
  ForgedReportError,
  natsLink,
  natsNames,
  openJobQueue,
  ReportRefusedError,
  serveAgentLink,
} from '@melange2/protocol';
import type { RefusedMessage } from '@melange2/queue';
import { jetstream } from '@nats-io/jetstream';
import { namespaceForTests } from './nats-connect.js';
import { describe, expect, it } from 'vitest';

const job: BuildJob = {
  runId: 'r1',
  id: 'zlib@x86_64',
  name: 'zlib',
  arch: 'x86_64',
  version: '1.3-r0',
  configFile: 'zlib.yaml',
  attempt: 1,
  token: '0f'.repeat(32),
};
const report: BuildReport = {
  runId: 'r1',
  id: job.id,
  attempt: 1,
  token: job.token,
  agent: 'a',
  durationMs: 5,
  outcome: { kind: 'succeeded', apks: [], steps: { total: 1, cached: 1 } },
};

const until = async (cond: () => boolean) => {
  for (let i = 0; !cond(); i++) {
    if (i > 1000) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('the protocol over real NATS', () => {
  const nats = namespaceForTests('proto');
  const { ns } = nats;

  it('events and reports reach the coordinator side; a refusal reaches the agent as a named error', async () => {
    const events: AgentEvent[] = [];
    const reports: BuildReport[] = [];
    let refuse = false;
    const served = serveAgentLink(nats.nc, ns, {
      event: (e) => events.push(e),
      report: async (r) => {
        if (refuse) throw new Error('coordinator stopped');
        reports.push(r);
        return { ok: true, stale: true };
      },
    });
    try {
      const link = natsLink(nats.nc, ns);
      link.event({ type: 'heartbeat', agent: 'a', arch: 'x86_64', slots: 2, busy: 0, alive: true });
      expect(await link.report(report)).toEqual({ ok: true, stale: true });
      await until(() => events.length === 1);
      expect(events[0]).toMatchObject({ type: 'heartbeat', slots: 2 });
      expect(reports).toEqual([report]);
      refuse = true;
      await expect(link.report(report)).rejects.toThrow(ReportRefusedError);
      await expect(link.report(report)).rejects.toThrow(/coordinator stopped/);
      // A refusal for good carries its code to the agent (which then stops offering the report).
      served.close();
      const final = serveAgentLink(nats.nc, ns, {
        event: () => {},
        report: async () => {
          throw new ForgedReportError('wrong-token', "report refused (wrong-token): not the job's token");
        },
      });
      try {
        await expect(link.report(report)).rejects.toMatchObject({ refused: 'wrong-token' });
      } finally {
        final.close();
      }
    } finally {
      served.close();
    }
  });

  it('a job that does not decode is terminated and reported; the next one is delivered', async () => {
    const refused: RefusedMessage[] = [];
    const q = await openJobQueue(nats.nc, ns, { onRefused: (r) => refused.push(r) });
    try {
      const js = jetstream(nats.nc);
      const subject = `${natsNames(ns).subjectPrefix}.x86_64`;
      await js.publish(subject, JSON.stringify(job), { msgID: 'unversioned' });
      await q.publish('x86_64', job, { msgId: 'good' });
      const c = await q.consumer('x86_64');
      let got = await c.next({ expiresMs: 5000 });
      // The refused message yields no delivery; the valid one follows.
      if (got === null) got = await c.next({ expiresMs: 5000 });
      expect(got?.data).toEqual(job);
      await got?.ack();
      expect(refused).toMatchObject([{ msgId: 'unversioned', error: { code: 'protocol-version' } }]);
      // Nothing is left to redeliver (the term is fire-and-forget: the server takes it shortly).
      let depth = await q.depth('x86_64');
      for (let i = 0; i < 100 && depth.leased > 0; i++) depth = await q.depth('x86_64');
      expect(depth).toEqual({ pending: 0, leased: 0 });
    } finally {
      await q.destroy();
    }
  });
});
