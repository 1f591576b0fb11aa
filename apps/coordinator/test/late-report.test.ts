// A report that reaches a restarted coordinator while it is still starting up (an agent retrying
// the report of a build it finished while the coordinator was down) must settle that build.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BuildJob, type BuildReport, natsNames, type ReportAck, subjects } from '@melange2/agent';
import { JetStreamWorkQueue } from '@melange2/queue';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runDistributed } from '../src/run/distributed.js';
import { OS_REPO, type OsBootstrap, osBootstrap } from '@melange2/test/os';

const d = inject('daemons');

describe('a restarted coordinator and a late report (real NATS)', () => {
  let nc: NatsConnection;
  let b: OsBootstrap;
  const ns = `late${process.pid}x${Date.now().toString(36)}`;
  const repo = mkdtempSync(join(tmpdir(), 'm2-late-'));

  beforeAll(async () => {
    nc = await connect({ servers: d.natsUrl });
    b = await osBootstrap(['x86_64']);
    cpSync(join(OS_REPO, 'base-files.yaml'), join(repo, 'base-files.yaml'));
  });
  afterAll(async () => {
    const n = natsNames(ns);
    const jsm = await jetstreamManager(nc);
    for (const s of [n.stream, `KV_${n.state}`, `KV_${n.index}`, `OBJ_${n.repo}`, `OBJ_${n.staging}`])
      await jsm.streams.delete(s).catch(() => false);
    await nc.close();
    rmSync(repo, { recursive: true, force: true });
    if (b) rmSync(b.dir, { recursive: true, force: true });
  });

  it('is taken once the interrupted run is claimed again, not answered stale and lost', async () => {
    const subj = subjects(ns);
    const n = natsNames(ns);
    // A fake agent: its heartbeats give the coordinator a slot; it pulls the job itself.
    const beat = setInterval(() => {
      nc.publish(
        subj.events,
        JSON.stringify({ type: 'heartbeat', agent: 'fake', arch: 'x86_64', slots: 1, busy: 0, alive: true }),
      );
    }, 100);
    const options = {
      nc,
      ns,
      repo,
      arches: ['x86_64'] as const,
      signingKey: b.key,
      repositoryAppend: [b.repo],
      cacheDir: false as const,
    };
    const queue = await JetStreamWorkQueue.open<BuildJob>(nc, {
      stream: n.stream,
      subjectPrefix: n.subjectPrefix,
    });
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
        agent: 'fake',
        durationMs: 1,
        outcome: { kind: 'failed', stage: 'solve', message: 'late report', logTail: [] },
      };
      // The report is retried from before the restart on, as an agent does (faster here).
      let answer: ReportAck | undefined;
      const reporting = (async () => {
        for (;;) {
          try {
            const m = await nc.request(subj.results, JSON.stringify(report), { timeout: 20_000 });
            answer = m.json<ReportAck>();
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
      clearInterval(beat);
      await queue.close();
    }
  }, 60_000);
});
