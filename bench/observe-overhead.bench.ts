/**
 * What observability costs the coordinator: the build-all-wolfi workload (the real coordinator on
 * the real Wolfi graph over real NATS, fake agents in another process sleeping `scale` ms per
 * declared cpu) run twice in the same process run:
 *   - off: no RunMetrics, no timeline or dashboard, no build log store (`observe: false`), agents
 *     keep no logs;
 *   - on: RunMetrics, the timeline recorder and dashboard with one SSE client reading the live
 *     run's events, the log store with each agent writing a log of `logKb` KB per build, and
 *     `/metrics` scraped every second.
 * The SSE client and the scraper live in the agents' process: the coordinator's CPU time
 * (process.cpuUsage of this process) is its own. Printed: coordinator CPU per build for both, and
 * the ratio. The fake agents connect with the same NATS credentials as the coordinator (NATS_URL,
 * NATS_TLS_CA, NATS_NKEY), in a fresh namespace per run.
 *
 *   npm run bench -- observe-overhead [slotsPerArch=16] [scaleMs=10] [logKb=4] [modes=off,on]
 * Needs NATS_URL (from `melange2-orch daemons status`) or starts a private nats-server.
 */
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { runOnSources } from './on-sources.ts';

const self = fileURLToPath(import.meta.url);
runOnSources(self, '@melange2/engine');

const { planWolfi, wolfiCorpus: corpus } = await import('./wolfi-lib.js');
const { benchNats, benchNatsOptions, spawnAgentProcess, startFakeAgents } = await import('./fake-agents.js');
const { connect } = await import('@nats-io/transport-node');
const { generateKeyPair, signingKeyFromPem } = await import('@melange2/apk');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads the live run's SSE stream (reconnecting until it stays open) and scrapes /metrics every second. */
function observer(url: string, runId: string) {
  const seen = { sseBytes: 0, sseEvents: 0, scrapes: 0, scrapeBytes: 0 };
  let stopped = false;
  const scrape = setInterval(() => {
    void fetch(`${url}/metrics`)
      .then((r) => r.text())
      .then((t) => {
        seen.scrapes++;
        seen.scrapeBytes += t.length;
      })
      .catch(() => {});
  }, 1000);
  void (async () => {
    const dec = new TextDecoder();
    while (!stopped) {
      try {
        const r = await fetch(`${url}/api/runs/${runId}/events`);
        if (r.ok && r.body)
          for await (const chunk of r.body) {
            const s = dec.decode(chunk as Uint8Array);
            seen.sseBytes += s.length;
            seen.sseEvents += s.split('event: ').length - 1;
          }
      } catch {
        // The run's server closed: nothing more to read.
      }
      await sleep(200);
    }
  })();
  return {
    stop() {
      stopped = true;
      clearInterval(scrape);
      return seen;
    },
  };
}

async function fakeAgents(ns: string, slots: number, scale: number, logKb: number): Promise<void> {
  await startFakeAgents({ ns, slots, scale, logKb });
  let obs: ReturnType<typeof observer> | undefined;
  for await (const cmd of createInterface({ input: process.stdin })) {
    const [verb, url, runId] = cmd.split(' ');
    if (verb === 'observe') obs = observer(url!, runId!);
    else if (verb === 'report') process.stdout.write(`observed ${JSON.stringify(obs?.stop() ?? {})}\n`);
  }
}

async function main(): Promise<void> {
  const slots = Number(process.argv[2] ?? 16);
  const scale = Number(process.argv[3] ?? 10);
  const logKb = Number(process.argv[4] ?? 4);
  const modes = (process.argv[5] ?? 'off,on').split(',') as ('off' | 'on')[];
  if (!existsSync(corpus)) {
    process.stdout.write(`observe-overhead: skipped, no corpus at ${corpus}\n`);
    return;
  }
  const stopNats = await benchNats();
  const { runDistributed, RunMetrics } = await import('@melange2/coordinator');
  const { natsStreams } = await import('@melange2/protocol');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const plan = await planWolfi();
  process.stdout.write(
    `wolfi: ${plan.builds.length} builds; ${slots} slots per arch, ${scale} ms per cpu, logs ${logKb} KB per build when on\n`,
  );
  const kp = await generateKeyPair(2048);
  const key = signingKeyFromPem(kp.privatePem, 'bench.rsa.pub');
  const nc = await connect(benchNatsOptions());
  const perBuild = new Map<string, number>();
  for (const mode of modes) {
    const on = mode === 'on';
    const ns = `bench${Date.now().toString(36)}`;
    const { child, out } = spawnAgentProcess(self, [
      ns,
      String(slots),
      String(scale),
      String(on ? logKb : 0),
    ]);
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    const r = await runDistributed({
      nc,
      ns,
      repo: corpus,
      arches: ['x86_64', 'aarch64'],
      signingKey: key,
      cacheDir: '.melange2/cache',
      workers: 0,
      observe: on,
      ...(on ? { metrics: new RunMetrics() } : {}),
      onPlan: (_plan, runId, _resumed, url) => {
        if (on) child.stdin.write(`observe ${url} ${runId}\n`);
      },
    });
    const wall = performance.now() - w0;
    const cpu = process.cpuUsage(cpu0);
    child.stdin.write('report\n');
    while (!out().includes('observed ')) await sleep(50);
    child.kill();
    const ms = (cpu.user + cpu.system) / 1000 / Math.max(1, r.dispatched);
    perBuild.set(mode, ms);
    const built = r.rows.filter((x) => x.state === 'succeeded').length;
    process.stdout.write(
      `${mode.padEnd(3)}: coordinator CPU ${ms.toFixed(2)} ms/build (user ${(cpu.user / 1000).toFixed(0)} ms, system ${(cpu.system / 1000).toFixed(0)} ms; ` +
        `${built} built, ${r.dispatched} dispatched); makespan ${(wall / 1000).toFixed(1)}s` +
        (on ? `; ${out().slice(out().indexOf('observed ')).trim()}` : '') +
        '\n',
    );
    const jsm = await jetstreamManager(nc);
    for (const s of natsStreams(ns)) await jsm.streams.delete(s).catch(() => false);
  }
  const off = perBuild.get('off');
  const onMs = perBuild.get('on');
  if (off !== undefined && onMs !== undefined)
    process.stdout.write(
      `on − off: ${(onMs - off).toFixed(2)} ms/build; on ÷ off: ${(onMs / off).toFixed(2)}\n`,
    );
  await nc.close();
  await stopNats();
}

if (process.argv[2] === '--agents') {
  const [, , , ns, slots, scale, logKb] = process.argv;
  await fakeAgents(ns!, Number(slots), Number(scale), Number(logKb));
} else {
  await main();
}
