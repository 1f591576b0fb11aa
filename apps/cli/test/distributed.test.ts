import { mkdtempSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { startNatsAgent } from '@melange2/agent';
import { natsNames } from '@melange2/protocol';
import { freePort } from '@melange2/daemons';
import { agentAccess, natsConnect, natsNamespaces, startOtlpReceiver } from '@melange2/test/harness';
import { Objm } from '@nats-io/obj';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ObjectRepositoryStore } from '@melange2/coordinator';
import type { RunEvent } from '@melange2/coordinator';
import { type DistributedOptions, runDistributed } from '@melange2/coordinator';
import { startTelemetry } from '@melange2/cli/internal';
import { apkFile, indexNames, OS_BUILT, OS_REPO, type OsBootstrap, osBootstrap } from '@melange2/test/os';

const d = inject('daemons');
type Arch = 'x86_64' | 'aarch64';

describe('coordinator + agents over real NATS JetStream', () => {
  const nats = natsNamespaces('t');
  let b: OsBootstrap;

  beforeAll(async () => {
    b = await osBootstrap(['x86_64', 'aarch64']);
  });

  /** Agents as agents are deployed: each on its own connection, with its arch's agent credentials. */
  const agents = async (ns: string, perArch: number, arches: readonly Arch[], leaseMs = 60_000) => {
    const out = [];
    for (const arch of arches) {
      const access = await agentAccess(d.nats, ns, arch);
      for (let i = 0; i < perArch; i++) {
        const anc = await natsConnect(access);
        const a = await startNatsAgent({
          nc: anc,
          ns,
          arch,
          slots: 1,
          id: `${arch}-${i}`,
          repoRoot: OS_REPO,
          buildkitAddr: d.buildkit[arch],
          cacheDir: b.cacheDir,
          limits: { ackWaitMs: leaseMs },
          heartbeatMs: 500,
        });
        out.push({
          ...a,
          async close(kill?: boolean) {
            try {
              await a.close(kill);
            } finally {
              await anc.close();
            }
          },
        });
      }
    }
    return out;
  };
  const options = (ns: string, arches: readonly Arch[], events: RunEvent[]): DistributedOptions => ({
    nc: nats.nc,
    ns,
    repo: OS_REPO,
    arches,
    signingKey: b.key,
    repositoryAppend: [b.repo],
    cacheDir: false,
    onEvent: (e) => events.push(e),
  });
  const storeOf = (ns: string) => ObjectRepositoryStore.open(nats.nc, natsNames(ns).repo);

  // Long under load (2 cores, several builds, the server reloading its users).
  it('two agents per arch build testdata/os; the trace crosses NATS; a second run dispatches nothing', {
    timeout: 120_000,
  }, async () => {
    const receiver = await startOtlpReceiver();
    process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = receiver.endpoint;
    process.env['OTEL_EXPORTER_OTLP_PROTOCOL'] = 'http/json';
    const telemetry = await startTelemetry({ serviceName: 'melange2-orch-test' });
    const ns = nats.fresh();
    const running = await agents(ns, 2, ['x86_64', 'aarch64']);
    const events: RunEvent[] = [];
    try {
      const r = await runDistributed(options(ns, ['x86_64', 'aarch64'], events));
      expect(r.problems.join()).toMatch(/bad-config\.yaml:9/);
      const by = (name: string, arch: Arch) =>
        r.rows.find((x) => x.build.name === name && x.build.arch === arch);
      for (const arch of ['x86_64', 'aarch64'] as const) {
        expect(by('broken', arch)?.state).toBe('failed');
        expect(by('needs-broken', arch)).toMatchObject({
          state: 'skipped',
          reason: 'dependency failed: broken',
        });
        expect(by('uses-bad-config', arch)).toMatchObject({
          state: 'skipped',
          reason: 'needs bad-config, whose config bad-config.yaml does not parse',
        });
        expect(r.rows.filter((x) => x.build.arch === arch && x.state === 'succeeded')).toHaveLength(10);
      }
      // Both agents of each arch took part.
      expect(new Set(r.rows.map((x) => x.agent).filter(Boolean))).toEqual(
        new Set(['x86_64-0', 'x86_64-1', 'aarch64-0', 'aarch64-1']),
      );
      const store = await storeOf(ns);
      for (const arch of ['x86_64', 'aarch64'] as const) {
        const index = await store.readIndex(arch);
        expect(indexNames(index!, b.key)).toEqual(OS_BUILT);
        expect((await store.list(arch)).filter((f) => f.endsWith('.apk')).length).toBe(OS_BUILT.length);
        const f = await store.open(arch, 'greeter-1.0.0-r0.apk');
        const local = join(mkdtempSync(join(tmpdir(), 'm2-greeter-')), 'greeter.apk');
        await writeFile(local, await buffer(f!.stream));
        expect(await apkFile(local, 'usr/share/greeter/built-with')).toBe(
          `marker libgreet-1.0.0-r0 arch ${arch}\n`,
        );
      }

      await telemetry.shutdown();
      const spans = receiver.spans;
      const run = spans.find((s) => s.name.startsWith('build-all '));
      const build = spans.find((s) => s.name === 'build greeter@x86_64');
      const send = spans.find((s) => s.name === 'send x86_64' && s.parentSpanId === build?.spanId);
      const processSpan = spans.find((s) => s.name === 'process greeter@x86_64');
      expect(build?.parentSpanId).toBe(run?.spanId);
      expect(build?.attributes).toMatchObject({
        'apk.origin': 'greeter',
        'apk.version': '1.0.0-r0',
        'build.arch': 'x86_64',
        'cicd.pipeline.task.run.result': 'success',
      });
      expect(build?.attributes['build.steps.cached']).toBeGreaterThanOrEqual(0);
      expect(processSpan?.traceId).toBe(run?.traceId);
      expect(processSpan?.parentSpanId).toBe(send?.spanId);
      expect(processSpan?.attributes['cicd.worker.id']).toMatch(/^x86_64-[01]$/);
      const children = spans.filter((s) => s.parentSpanId === processSpan?.spanId).map((s) => s.name);
      expect(children).toEqual(expect.arrayContaining(['environment', 'solve', 'package', 'stage packages']));
      const vertices = spans.filter(
        (s) => s.parentSpanId === processSpan?.spanId && 'buildkit.cached' in s.attributes,
      );
      expect(vertices.length).toBeGreaterThan(2);
      expect(spans.some((s) => s.name === 'queue.wait' && s.parentSpanId === send?.spanId)).toBe(true);
      const publish = spans.find((s) => s.name === 'publish greeter@x86_64');
      expect(publish?.parentSpanId).toBe(build?.spanId);
      expect(spans.some((s) => s.name === 'index x86_64' && s.parentSpanId === publish?.spanId)).toBe(true);

      const again = await runDistributed(options(ns, ['x86_64', 'aarch64'], []));
      expect(again.dispatched).toBe(0);
      expect(again.upToDate).toHaveLength(20);
    } finally {
      delete process.env['OTEL_EXPORTER_OTLP_ENDPOINT'];
      await telemetry.shutdown().catch(() => undefined);
      await receiver.stop();
      await Promise.all(running.map((a) => a.close(true)));
    }
  });

  // Long under load (2 cores, several builds, the server reloading its users).
  it('an agent killed mid-build: its build goes to the other agent, nothing partial is published', {
    timeout: 120_000,
  }, async () => {
    const ns = nats.fresh();
    const running = await agents(ns, 2, ['x86_64'], 2000);
    const events: RunEvent[] = [];
    let killed: string | undefined;
    try {
      const r = await runDistributed({
        ...options(ns, ['x86_64'], events),
        // The coordinator sets the consumer's lease; the agents were started with the same.
        limits: { ackWaitMs: 2000 },
        agentTimeoutMs: 3000,
        onEvent: (e) => {
          events.push(e);
          if (!killed && e.type === 'started' && e.build.name === 'chain-a') {
            killed = e.agent;
            void running[Number(e.agent.slice(-1))]?.close(true);
          }
        },
      });
      expect(killed).toBeDefined();
      const chainA = r.rows.find((x) => x.build.name === 'chain-a');
      expect(chainA?.state).toBe('succeeded');
      expect(chainA?.agent).not.toBe(killed);
      expect(r.rows.filter((x) => x.state === 'succeeded')).toHaveLength(10);
      const store = await storeOf(ns);
      const apks = (await store.list('x86_64'))
        .filter((f) => f.endsWith('.apk'))
        .map((f) => f.replace(/-\d.*$/, ''));
      expect(apks.sort()).toEqual(OS_BUILT);
      expect(indexNames((await store.readIndex('x86_64'))!, b.key)).toEqual(OS_BUILT);
      const staging = await new Objm(nats.nc).open(natsNames(ns).staging);
      expect((await staging.list()).filter((i) => !i.deleted)).toEqual([]);
    } finally {
      await Promise.all(running.map((a) => a.close(true)));
    }
  });

  // Long under load (2 cores, several builds, the server reloading its users).
  it('a restarted coordinator resumes the run without rebuilding what finished', {
    timeout: 120_000,
  }, async () => {
    const ns = nats.fresh();
    const running = await agents(ns, 2, ['x86_64']);
    // The repository URL is in the queued jobs: a restarted coordinator serves it at the same address.
    const listenPort = await freePort();
    try {
      const stop = new AbortController();
      const first: RunEvent[] = [];
      let firstId = '';
      const interrupted = runDistributed({
        ...options(ns, ['x86_64'], first),
        listenPort,
        signal: stop.signal,
        onPlan: (_p, runId) => {
          firstId = runId;
        },
        onEvent: (e) => {
          first.push(e);
          if (first.filter((x) => x.type === 'succeeded').length === 3) stop.abort();
        },
      });
      await expect(interrupted).rejects.toThrow(/coordinator stopped/);
      const done = first.filter((x) => x.type === 'succeeded').map((x) => ('build' in x ? x.build.name : ''));
      expect(done).toHaveLength(3);
      const second: RunEvent[] = [];
      let resumed = false;
      const r = await runDistributed({
        ...options(ns, ['x86_64'], second),
        listenPort,
        onPlan: (_p, _id, res) => {
          resumed = res;
        },
      });
      expect(resumed).toBe(true);
      expect(r.runId).toBe(firstId);
      for (const n of done) expect(r.upToDate.map((u) => u.id)).toContain(`${n}@x86_64`);
      expect(second.filter((e) => e.type === 'succeeded' && done.includes(e.build.name))).toHaveLength(0);
      expect(r.rows.filter((x) => x.state === 'succeeded').length + done.length).toBe(10);
      const store = await storeOf(ns);
      expect(indexNames((await store.readIndex('x86_64'))!, b.key)).toEqual(OS_BUILT);
      const third = await runDistributed(options(ns, ['x86_64'], []));
      expect(third.dispatched).toBe(0);
    } finally {
      await Promise.all(running.map((a) => a.close(true)));
    }
  });
});
