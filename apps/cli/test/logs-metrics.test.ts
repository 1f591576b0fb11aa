import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentMetrics, serveAgentHttp, startNatsAgent } from '@melange2/agent';
import { logDir, runEmbedded } from '@melange2/cli/internal';
import {
  chromeTrace,
  findRun,
  LocalRepositoryStore,
  ObjectRunStore,
  type RunResult,
  RunMetrics,
  runDistributed,
  logMetricsRoute,
} from '@melange2/coordinator';
import { serveRepository } from '@melange2/coordinator/internal';
import {
  type BuildLogStore,
  LocalLogStore,
  natsNames,
  ObjectLogStore,
  TRUNCATION_MARKER,
} from '@melange2/protocol';
import { type OsBootstrap, osBootstrap, ROOT } from '@melange2/test/os';
import { agentAccess, natsArgs, natsConnect, natsNamespaces } from '@melange2/test/harness';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runCli } from './cli-helpers-apk.js';
import { logRepo } from './log-repo.js';
import { Proc } from './processes.js';
import { type Family, parseMetrics, sample, value } from './prom.js';

const d = inject('daemons');
const BIN = join(ROOT, 'apps', 'cli', 'bin', 'melange2-orch.js');
const CAP = 64 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the store has the build's log (running or done). */
async function logStarted(
  store: BuildLogStore,
  runId: () => string | undefined,
  name: string,
): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const id = runId();
    if (id && (await store.ref({ runId: id, arch: 'x86_64', name }))) return;
    await sleep(100);
  }
  throw new Error(`the log of ${name} never started`);
}

/**
 * `logs slow --follow` in its own process: resolves with what it printed and whether its first
 * tick came while the build was still running.
 */
async function follow(store: BuildLogStore, runId: string, args: string[]) {
  const p = new Proc(
    'logs --follow',
    spawn(process.execPath, [BIN, 'logs', 'slow', '--arch', 'x86_64', '--follow', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  while (p.child.exitCode === null && !/slow tick/.test(p.stdout)) await sleep(50);
  const stateAtFirstTick = (await store.ref({ runId, arch: 'x86_64', name: 'slow' }))?.state;
  const t0 = Date.now();
  const code = await p.exit(300_000);
  return { code, out: p.stdout, err: p.stderr, stateAtFirstTick, ms: Date.now() - t0 };
}

/**
 * A succeeded build's log ends with the coordinator's publish section: its package checked
 * (sha256, size), signed with the repository key, and the index generation that holds it.
 */
function checkPublished(log: string | undefined, name: string, keyName: string): number {
  const m = new RegExp(
    String.raw`\S+ == coordinator: publish \(attempt 1\)\n` +
      String.raw`\S+ checked ${name}-1\.0\.0-r0\.apk: sha256 [0-9a-f]{64}, \d+ bytes \(staged bytes match the report\)\n` +
      String.raw`\S+ signed with ${keyName.replace(/\./g, '\\.')}\n` +
      String.raw`\S+ published: x86_64 index generation (\d+) \([\d.]+s\)\n$`,
  ).exec(log ?? '');
  expect(m, log).not.toBeNull();
  return Number(m![1]);
}

function checkLogs(logs: Record<string, string>, nonce: string, keyName: string): void {
  for (const name of ['loud', 'big', 'slow']) checkPublished(logs[name], name, keyName);
  // A build that failed before the coordinator got a package: no publish section.
  expect(logs.fails).not.toContain('coordinator: publish');
  // A succeeded and a failed build: their first and last step's output, step names, the result.
  expect(logs.loud).toContain(`loud FIRST-STEP-OUTPUT ${nonce}`);
  expect(logs.loud).toContain(`loud LAST-STEP-OUTPUT ${nonce}`);
  expect(logs.loud).toMatch(/first words/);
  expect(logs.loud).toMatch(/packaged loud-1\.0\.0-r0\.apk/);
  expect(logs.loud).toMatch(/staged loud-1\.0\.0-r0\.apk for publishing/);
  expect(logs.loud).toMatch(/result: succeeded in/);
  expect(logs.fails).toContain(`fails FIRST-STEP-OUTPUT ${nonce}`);
  expect(logs.fails).toContain(`fails LAST-STEP-OUTPUT ${nonce}`);
  expect(logs.fails).toMatch(/ERROR: .*exit code: 7/);
  expect(logs.fails).toMatch(/result: failed at solve/);
  // Every line is timestamped.
  for (const l of logs.loud!.trimEnd().split('\n'))
    expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
  // Over the cap: the marker, then only the result.
  expect(logs.big).toContain(TRUNCATION_MARKER);
  expect(logs.big).toContain('big line 0 ');
  expect(logs.big).not.toContain('big line 2999 ');
  expect(logs.big).toMatch(/bytes of output dropped\n.*result: succeeded/);
  // The cap bounds the agent's text; the publish section comes after it.
  const agentText = logs.big!.slice(0, logs.big!.indexOf(' == coordinator: publish'));
  expect(Buffer.byteLength(agentText)).toBeLessThan(CAP + 1024);
}

/** The run's summary and its metrics agree. */
function checkMetrics(m: Family[], r: RunResult, publishes: number): void {
  const rows = (state: string) => r.rows.filter((x) => x.state === state && x.build.arch === 'x86_64').length;
  const a = { arch: 'x86_64' };
  expect(value(m, 'melange2_builds_total', { state: 'succeeded', ...a })).toBe(rows('succeeded'));
  expect(value(m, 'melange2_builds_total', { state: 'failed', ...a })).toBe(rows('failed'));
  expect(value(m, 'melange2_builds_total', { state: 'skipped', ...a })).toBe(rows('skipped'));
  expect(rows('succeeded')).toBe(3);
  expect(rows('failed')).toBe(1);
  expect(value(m, 'melange2_builds_running', a)).toBe(0);
  expect(value(m, 'melange2_builds_ready', a)).toBe(0);
  expect(value(m, 'melange2_builds_waiting', a)).toBe(0);
  expect(Number(sample(m, 'melange2_queue_wait_seconds', a)?.count)).toBe(r.dispatched);
  expect(Number(sample(m, 'melange2_dispatch_latency_seconds', a)?.count)).toBe(r.dispatched);
  expect(Number(sample(m, 'melange2_build_duration_seconds', { state: 'succeeded', ...a })?.count)).toBe(3);
  expect(Number(sample(m, 'melange2_publish_duration_seconds', a)?.count)).toBe(publishes);
  expect(value(m, 'melange2_index_generation', a)).toBeGreaterThanOrEqual(1);
  const cached = value(m, 'melange2_buildkit_vertices_total', { ...a, cached: 'true' });
  const total = cached + value(m, 'melange2_buildkit_vertices_total', { ...a, cached: 'false' });
  expect(total).toBeGreaterThan(0);
  expect(value(m, 'melange2_cache_hit_ratio', a)).toBeCloseTo(cached / total, 6);
}

async function logsOf(args: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of ['loud', 'fails', 'big', 'slow']) {
    const r = await runCli(['logs', name, ...args]);
    expect(r.code, r.err).toBe(0);
    out[name] = r.out;
  }
  return out;
}

describe('build logs and metrics', () => {
  let b: OsBootstrap;
  const nats = natsNamespaces('tl');
  beforeAll(async () => {
    b = await osBootstrap(['x86_64']);
  });

  it('embedded: every build keeps its full log, a running one is followed, the registry agrees with the summary', async () => {
    const nonce = `e${Date.now().toString(36)}`;
    const repo = logRepo(nonce);
    const out = join(mkdtempSync(join(tmpdir(), 'm2-logs-')), 'packages');
    const metrics = new RunMetrics();
    let runId: string | undefined;
    const run = runEmbedded({
      repo,
      arches: ['x86_64'],
      outDir: out,
      signingKey: b.key,
      buildkitAddress: async () => d.buildkit.x86_64,
      jobs: 4,
      apkCacheDir: b.cacheDir,
      repositoryAppend: [b.repo],
      cacheDir: false,
      logMaxBytes: CAP,
      metrics,
      onPlan: (_p, id) => {
        runId = id;
      },
      log: () => {},
    });
    const store = new LocalLogStore(logDir(out));
    await logStarted(store, () => runId, 'slow');
    const followed = follow(store, runId!, ['--out-dir', out]);
    const r = await run;
    const f = await followed;
    expect(f.code, f.err).toBe(0);
    expect(f.stateAtFirstTick).toBe('running');
    const logs = await logsOf(['--out-dir', out]);
    checkLogs(logs, nonce, b.key.publicName);
    expect(f.out).toBe(logs.slow);
    expect(f.out).toContain(`slow tick 8 ${nonce}`);
    // Named by run: the same log with --run, and the gzip blobs are what is on disk.
    const byRun = await runCli(['logs', 'loud', '--out-dir', out, '--run', r.runId]);
    expect(byRun.out).toBe(logs.loud);
    const missing = await runCli(['logs', 'nope', '--arch', 'x86_64', '--out-dir', out]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no log for this build in this run/);
    const nowhere = await runCli(['logs', 'loud', '--out-dir', join(out, 'nowhere')]);
    expect(nowhere.code).toBe(2);
    expect(nowhere.err).toMatch(/no build logs here/);
    const refs = await store.list(r.runId);
    expect(refs.map((x) => `${x.name}:${x.state}`).sort()).toEqual([
      'big:succeeded',
      'fails:failed',
      'loud:succeeded',
      'slow:succeeded',
    ]);
    process.stderr.write(
      `log bytes per build (gzip / text): ${refs.map((x) => `${x.name} ${x.size}/${x.bytes}`).join(', ')}\n`,
    );
    checkMetrics(parseMetrics(await metrics.registry.metrics()), r, 3);
  });

  it('distributed: logs in JetStream, followed over NATS, served with ranges; /metrics scraped over HTTP', async () => {
    const nonce = `d${Date.now().toString(36)}`;
    const repo = logRepo(nonce);
    const ns = nats.fresh();
    const agentMetrics = new AgentMetrics();
    // The agent as deployed: its own connection, with its arch's agent credentials.
    const anc = await natsConnect(await agentAccess(d.nats, ns, 'x86_64'));
    const agent = await startNatsAgent({
      nc: anc,
      ns,
      arch: 'x86_64',
      // One slot: agents with several make their own signing key concurrently and one may lose
      // a race on its file (a transient fault, retried), which this test does not look at.
      slots: 1,
      id: 'x86_64-logs',
      repoRoot: repo,
      buildkitAddr: d.buildkit.x86_64,
      cacheDir: b.cacheDir,
      heartbeatMs: 300,
      logMaxBytes: CAP,
      metrics: agentMetrics,
    });
    const agentHttp = await serveAgentHttp(agentMetrics, { host: '127.0.0.1', port: 0 });
    const metrics = new RunMetrics();
    let runId: string | undefined;
    let repoUrl = '';
    const store = await ObjectLogStore.open(nats.nc, ns);
    try {
      const run = runDistributed({
        nc: nats.nc,
        ns,
        repo,
        arches: ['x86_64'],
        signingKey: b.key,
        repositoryAppend: [b.repo],
        cacheDir: false,
        metrics,
        onPlan: (_p, id, _resumed, url) => {
          runId = id;
          repoUrl = url;
        },
      });
      await logStarted(store, () => runId, 'slow');
      const followed = follow(store, runId!, [...natsArgs(d.nats), '--namespace', ns]);
      // While slow runs: the coordinator's and the agent's /metrics, scraped over HTTP.
      const live = parseMetrics(await (await fetch(`${repoUrl}/metrics`)).text());
      expect(value(live, 'melange2_builds_running', { arch: 'x86_64' })).toBeGreaterThanOrEqual(1);
      const agentLive = parseMetrics(await (await fetch(`${agentHttp.url}/metrics`)).text());
      expect(
        value(agentLive, 'melange2_agent_slots', { state: 'busy', arch: 'x86_64' }),
      ).toBeGreaterThanOrEqual(1);
      expect((await fetch(`${agentHttp.url}/healthz`)).status).toBe(200);
      const r = await run;
      const f = await followed;
      process.stderr.write(`logs --follow: ${f.ms} ms from the first tick to its end\n`);
      expect(f.code, f.err).toBe(0);
      expect(f.stateAtFirstTick, f.out).toBe('running');
      const logs = await logsOf([...natsArgs(d.nats), '--namespace', ns]);
      checkLogs(logs, nonce, b.key.publicName);
      // --follow waited for the coordinator's publish section after the agent's log ended.
      expect(f.out).toBe(logs.slow);
      const agentDone = parseMetrics(await (await fetch(`${agentHttp.url}/metrics`)).text());
      expect(value(agentDone, 'melange2_agent_builds_total', { state: 'succeeded', arch: 'x86_64' })).toBe(3);
      expect(value(agentDone, 'melange2_agent_builds_total', { state: 'failed', arch: 'x86_64' })).toBe(1);
      // The agents' stage times came with their reports: the trace nests them in each build.
      const runs = await ObjectRunStore.open(nats.nc, natsNames(ns).runs);
      const t = await findRun(runs, r.runId);
      // The section's generation is the timeline's publish record for the build.
      const loudPublish = t.builds.find((x) => x.name === 'loud')?.publish;
      expect(loudPublish).toMatchObject({ result: 'published', attempt: 1, signedBy: b.key.publicName });
      expect(checkPublished(logs.loud, 'loud', b.key.publicName)).toBe(
        loudPublish?.result === 'published' ? loudPublish.generation : -1,
      );
      const loud = t.builds.find((x) => x.name === 'loud');
      const stages = loud?.stages ?? [];
      expect(stages.map((s) => s.stage)).toEqual(expect.arrayContaining(['environment', 'solve', 'package']));
      expect(stages.every((s, i) => i === 0 || s.at >= stages[i - 1]!.at)).toBe(true);
      const slices = chromeTrace(t).traceEvents.filter((e) => e.ph === 'X' && e.cat === 'stage');
      expect(slices.filter((e) => e.name === 'solve')).toHaveLength(3);

      // The coordinator's HTTP routes on a server of their own (the run's server is closed now).
      const server = await serveRepository(
        new LocalRepositoryStore(mkdtempSync(join(tmpdir(), 'm2-empty-'))),
        { routes: logMetricsRoute({ logs: store, metrics, timelines: (id) => runs.get(id) }) },
      );
      try {
        const scraped = await fetch(`${server.url}/metrics`);
        expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
        // Three builds and the empty index the coordinator publishes first for agents to install from.
        checkMetrics(parseMetrics(await scraped.text()), r, 4);

        const url = `${server.url}/runs/${r.runId}/builds/x86_64/loud/log`;
        const full = Buffer.from(logs.loud!);
        const get = (range?: string, method = 'GET') =>
          fetch(url, { method, ...(range ? { headers: { range } } : {}) });
        const whole = await get();
        expect(whole.status).toBe(200);
        expect(whole.headers.get('accept-ranges')).toBe('bytes');
        expect(whole.headers.get('content-type')).toBe('text/plain; charset=utf-8');
        expect(Buffer.from(await whole.arrayBuffer())).toEqual(full);
        const first = await get('bytes=0-9');
        expect(first.status).toBe(206);
        expect(first.headers.get('content-range')).toBe(`bytes 0-9/${full.length}`);
        expect(Buffer.from(await first.arrayBuffer())).toEqual(full.subarray(0, 10));
        const tail = await get('bytes=-20');
        expect(tail.status).toBe(206);
        expect(tail.headers.get('content-range')).toBe(
          `bytes ${full.length - 20}-${full.length - 1}/${full.length}`,
        );
        expect(Buffer.from(await tail.arrayBuffer())).toEqual(full.subarray(full.length - 20));
        const open = await get('bytes=100-');
        expect(open.status).toBe(206);
        expect(Buffer.from(await open.arrayBuffer())).toEqual(full.subarray(100));
        // Over the combined text: a range across the agent's text and the publish section, and
        // the section's last bytes; the ETag is not the agent blob's alone.
        const at = full.indexOf(' == coordinator: publish');
        const across = await get(`bytes=${at - 30}-${at + 29}`);
        expect(across.status).toBe(206);
        expect(across.headers.get('content-range')).toBe(`bytes ${at - 30}-${at + 29}/${full.length}`);
        expect(Buffer.from(await across.arrayBuffer())).toEqual(full.subarray(at - 30, at + 30));
        const end = await get(`bytes=${full.length - 1}-`);
        expect(end.status).toBe(206);
        expect(await end.text()).toBe('\n');
        expect(whole.headers.get('content-length')).toBe(String(full.length));
        expect(whole.headers.get('etag')).toMatch(/^"[0-9a-f]{64}-[0-9a-f]{16}"$/);
        const past = await get(`bytes=${full.length}-`);
        expect(past.status).toBe(416);
        expect(past.headers.get('content-range')).toBe(`bytes */${full.length}`);
        const head = await get(undefined, 'HEAD');
        expect(head.status).toBe(200);
        expect(head.headers.get('content-length')).toBe(String(full.length));
        expect((await fetch(`${server.url}/runs/latest/builds/x86_64/fails/log`)).status).toBe(200);
        expect((await fetch(`${server.url}/runs/${r.runId}/builds/x86_64/nope/log`)).status).toBe(404);
      } finally {
        await server.close();
      }
    } finally {
      await agentHttp.close();
      await agent.close(true);
      await anc.close();
    }
  }, 120_000);

  it('agent --listen serves /healthz and /metrics', async () => {
    const ns = nats.fresh('ta');
    const p = new Proc(
      'agent',
      spawn(
        process.execPath,
        [
          BIN,
          'agent',
          ...natsArgs(await agentAccess(d.nats, ns, 'x86_64')),
          ...['--namespace', ns, '--arch', 'x86_64', '--jobs', '3'],
          ...['--buildkit-addr', d.buildkit.x86_64, '--repo', tmpdir()],
          ...['--listen', '127.0.0.1:0'],
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    try {
      const [, url] = await p.waitFor(/metrics at (http:\/\/127\.0\.0\.1:\d+)\/metrics/);
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.text()).toBe('ok\n');
      const m = parseMetrics(await (await fetch(`${url}/metrics`)).text());
      expect(value(m, 'melange2_agent_slots', { state: 'free', arch: 'x86_64' })).toBe(3);
      expect(value(m, 'melange2_agent_slots', { state: 'busy', arch: 'x86_64' })).toBe(0);
      expect(value(m, 'melange2_nats_reconnects_total')).toBe(0);
      p.child.kill('SIGTERM');
      expect(await p.exit()).toBe(0);
    } finally {
      await p.kill();
    }
  });
});
