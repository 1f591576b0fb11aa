/**
 * The coordinator on the real Wolfi graph (../shared/corpora/wolfi-os, x86_64 + aarch64, about
 * 6,800 builds) over real NATS JetStream, with fake agents in another process that sleep a
 * scaled duration per build (`scale` ms per declared cpu, 1 cpu when undeclared). Printed per
 * ordering (critical-path, then fifo, same run):
 *   - makespan ÷ lower bound, lower bound = max over arches of max(critical path, work ÷ slots);
 *   - coordinator CPU time per build (this process only; the agents are elsewhere);
 *   - dispatch latency, from the coordinator's decision to the agent's `started` event coming
 *     back (one NATS hop more than the start itself): p50/p99.
 *
 *   - the gap account (bench/gap-account.ts): where the time between the lower bound and the
 *     makespan went, over all builds and along the run's actual critical path.
 *
 *   npm run bench -- build-all-wolfi [slotsPerArch=16] [scaleMs=10] [orderings=cp-mix,cp-unlock,fifo] [logKb]
 * `logKb`: KB of log each fake build writes to the log store (0: the agents keep no logs);
 * absent, the agents' default log (its header), an Object Store write per build.
 * `BENCH_PREFETCH=1`: each fake agent pulls one build ahead of its slots while builds are short.
 * Needs NATS_URL (from `melange2-orch daemons status`) or starts a private nats-server.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runOnSources } from './on-sources.ts';

const self = fileURLToPath(import.meta.url);
runOnSources(self, '@melange2/engine');

const { planWolfi, wolfiCorpus: corpus, wolfiRunInputs } = await import('./wolfi-lib.js');
const { gapAccount } = await import('./gap-account.js');
type Times = import('./gap-account.js').Times;
type Ordering = import('@melange2/coordinator/internal').Ordering;
const { benchNats, benchNatsOptions, dropNamespace, prepareQueue, spawnAgentProcess, startFakeAgents } =
  await import('./fake-agents.js');
const { connect } = await import('@nats-io/transport-node');
const { generateKeyPair, signingKeyFromPem } = await import('@melange2/apk');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fakeAgents(ns: string, slots: number, scale: number, logKb: string): Promise<void> {
  await startFakeAgents({ ns, slots, scale, ...(logKb === '' ? {} : { logKb: Number(logKb) }) });
  process.stdout.write('ready\n');
  // The parent kills this process when the run is over.
  await new Promise(() => {});
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

async function main(): Promise<void> {
  const slots = Number(process.argv[2] ?? 16);
  const scale = Number(process.argv[3] ?? 10);
  if (!existsSync(corpus)) {
    process.stdout.write(`build-all-wolfi: skipped, no corpus at ${corpus}\n`);
    return;
  }
  const stopNats = await benchNats();
  const { runDistributed } = await import('@melange2/coordinator');
  const { criticalPathPriorities } = await import('@melange2/coordinator/internal');

  const t0 = performance.now();
  const plan = await planWolfi();
  process.stdout.write(
    `wolfi: ${plan.builds.length} builds (x86_64 ${plan.builds.filter((b) => b.arch === 'x86_64').length}, aarch64 ${plan.builds.filter((b) => b.arch === 'aarch64').length}), planned in ${((performance.now() - t0) / 1000).toFixed(1)}s; ${slots} slots per arch, ${scale} ms per cpu\n`,
  );
  let lb = 0;
  for (const arch of ['x86_64', 'aarch64']) {
    const bs = plan.builds
      .filter((b) => b.arch === arch)
      .map((b) => ({ ...b, cost: (b.cost / 60_000) * scale }));
    const cp = Math.max(...criticalPathPriorities(bs).values());
    const work = bs.reduce((s, b) => s + b.cost, 0);
    process.stdout.write(
      `  ${arch}: critical path ${(cp / 1000).toFixed(2)}s, work ${(work / 1000).toFixed(1)}s ÷ ${slots} slots = ${(work / slots / 1000).toFixed(2)}s\n`,
    );
    lb = Math.max(lb, cp, work / slots);
  }
  process.stdout.write(`  lower bound ${(lb / 1000).toFixed(2)}s\n`);

  const kp = await generateKeyPair(2048);
  const key = signingKeyFromPem(kp.privatePem, 'bench.rsa.pub');
  const nc = await connect(benchNatsOptions());
  const orderings = (process.argv[4] ?? 'cp-mix,cp-unlock,fifo').split(',') as Ordering[];
  for (const ordering of orderings) {
    const ns = `bench${Date.now().toString(36)}`;
    // A farm's agents wait on the namespace's queue between runs: the queue is there before they
    // join (else a fresh namespace's agents look for it every 2 s into the measured run).
    await prepareQueue(nc, ns, wolfiRunInputs.arches);
    const { child, out } = spawnAgentProcess(self, [ns, String(slots), String(scale), process.argv[5] ?? '']);
    while (!out().includes('ready\n')) await sleep(50);
    // Both ends in this process (one monotonic clock): decision → the agent's "started" event.
    const decided = new Map<string, number>();
    const lat: number[] = [];
    const times = new Map<string, Times>();
    const at = (id: string) => {
      const t = times.get(id) ?? {};
      times.set(id, t);
      return t;
    };
    const phases: [string, number][] = [];
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    const r = await runDistributed({
      onPhase: (p) => phases.push([p, performance.now()]),
      nc,
      ns,
      ...wolfiRunInputs,
      signingKey: key,
      ordering,
      onEvent: (e) => {
        const now = performance.now();
        if (e.type === 'dispatched') {
          decided.set(`${e.build.id}:${e.attempt}`, now);
          at(e.build.id).dispatched = now;
        } else if (e.type === 'started') {
          const t = decided.get(`${e.build.id}:${e.attempt}`);
          if (t !== undefined) lat.push(now - t);
          at(e.build.id).started = now;
        } else if (e.type === 'succeeded') {
          at(e.build.id).succeeded = now;
          at(e.build.id).durationMs = e.durationMs;
        }
      },
    });
    const wall = performance.now() - w0;
    const cpu = process.cpuUsage(cpu0);
    child.kill();
    const built = r.rows.filter((x) => x.state === 'succeeded').length;
    process.stdout.write(
      `${ordering.padEnd(13)}: makespan ${(wall / 1000).toFixed(2)}s = ${(wall / lb).toFixed(2)} × lower bound; ` +
        `coordinator CPU ${((cpu.user + cpu.system) / 1000 / Math.max(1, r.dispatched)).toFixed(2)} ms/build (${built} built, ${r.dispatched} dispatched); ` +
        `decision → agent started p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms (${lat.length} samples)\n`,
    );
    for (const line of gapAccount(plan.builds, times, {
      start: w0,
      makespan: wall,
      lowerBound: lb,
      slots,
      phases,
    }))
      process.stdout.write(`${line}\n`);
    await dropNamespace(nc, ns);
  }
  await nc.close();
  await stopNats();
}

if (process.argv[2] === '--agents') {
  const [, , , ns, slots, scale, logKb] = process.argv;
  await fakeAgents(ns!, Number(slots), Number(scale), logKb ?? '');
} else {
  await main();
}
