/**
 * Run start → first dispatch on the Wolfi graph (both arches, ~6,800 builds) over real NATS, as
 * build-all-wolfi starts its runs but stopped at the first dispatch: `reps` runs, each in a fresh
 * namespace whose queue and agents are there before the run (the agents only sleep, and never
 * get further than the first jobs). Per run: the start-up phases (opened, planned, set-up, first
 * dispatch; each from the end of the one before) and the coordinator process's CPU over the
 * start-up; then the median. The first run is the one a coordinator process makes (cold code);
 * the median mostly warm ones. The plan memo and the parse cache are read as a farm's repeated
 * runs read them (bench/wolfi-lib.ts's cache directory).
 *
 *   npm run bench -- run-start-wolfi [reps=5]
 * Needs NATS_URL (from `melange2-orch daemons status`) or starts a private nats-server.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runOnSources } from './on-sources.ts';

const self = fileURLToPath(import.meta.url);
runOnSources(self, '@melange2/engine');

const { wolfiCorpus: corpus, wolfiRunInputs } = await import('./wolfi-lib.js');
const { benchNats, benchNatsOptions, dropNamespace, prepareQueue, spawnAgentProcess, startFakeAgents } =
  await import('./fake-agents.js');
const { connect } = await import('@nats-io/transport-node');
const { generateKeyPair, signingKeyFromPem } = await import('@melange2/apk');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Agents of 4 slots per arch: enough for the first jobs; each sleeps a minute, never reached. */
const SLOTS = 8;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};

async function main(): Promise<void> {
  const reps = Number(process.argv[2] ?? 5);
  if (!existsSync(corpus)) {
    process.stdout.write(`run-start-wolfi: skipped, no corpus at ${corpus}\n`);
    return;
  }
  const stopNats = await benchNats();
  const { runDistributed } = await import('@melange2/coordinator');
  const kp = await generateKeyPair(2048);
  const key = signingKeyFromPem(kp.privatePem, 'bench.rsa.pub');
  const nc = await connect(benchNatsOptions());
  const rows: { total: number; cpu: number; phases: [string, number][] }[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const ns = `bench${Date.now().toString(36)}`;
    await prepareQueue(nc, ns, wolfiRunInputs.arches);
    const { child, out } = spawnAgentProcess(self, [ns]);
    while (!out().includes('ready\n')) await sleep(50);
    const stop = new AbortController();
    const phases: [string, number][] = [];
    let first: { at: number; cpu: NodeJS.CpuUsage } | undefined;
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    try {
      await runDistributed({
        onPhase: (p) => phases.push([p, performance.now()]),
        nc,
        ns,
        ...wolfiRunInputs,
        signingKey: key,
        signal: stop.signal,
        log: () => {},
        onEvent: (e) => {
          if (e.type !== 'dispatched' || first) return;
          first = { at: performance.now(), cpu: process.cpuUsage(cpu0) };
          // Stopped as a crash would stop it, once the first job is out.
          setImmediate(() => stop.abort());
        },
      }).catch((e: unknown) => {
        if (!first) throw e;
      });
    } finally {
      // Never left behind, whatever the run did.
      child.kill();
    }
    await dropNamespace(nc, ns);
    if (!first) throw new Error('the run ended without a dispatch');
    let prev = w0;
    const marks: [string, number][] = [...phases, ['first dispatch', first.at]];
    const steps = marks.map(([name, at]): [string, number] => {
      const d = at - prev;
      prev = at;
      return [name, d];
    });
    const cpu = (first.cpu.user + first.cpu.system) / 1000;
    rows.push({ total: first.at - w0, cpu, phases: steps });
    process.stdout.write(
      `run ${rep + 1}: run start → first dispatch ${(first.at - w0).toFixed(0)} ms (${steps.map(([n, d]) => `${n} ${d.toFixed(0)}`).join(', ')}), coordinator CPU ${cpu.toFixed(0)} ms\n`,
    );
  }
  const names = rows[0]?.phases.map(([n]) => n) ?? [];
  const med = names.map((n, i) => `${n} ${median(rows.map((r) => r.phases[i]![1])).toFixed(0)}`);
  process.stdout.write(
    `median of ${rows.length}: run start → first dispatch ${median(rows.map((r) => r.total)).toFixed(0)} ms (${med.join(', ')}), coordinator CPU ${median(rows.map((r) => r.cpu)).toFixed(0)} ms\n`,
  );
  await nc.close();
  await stopNats();
}

if (process.argv[2] === '--agents') {
  await startFakeAgents({ ns: process.argv[3]!, slots: SLOTS, scale: 60_000, logKb: 0 });
  process.stdout.write('ready\n');
  await new Promise(() => {});
} else {
  await main();
}
