/**
 * The coordinator's own rate: the real Wolfi plan (x86_64 + aarch64, about 6,800 builds) over
 * real NATS JetStream, with fake agents in another process that answer at once (no build time,
 * no timer, no logs), so what limits the run is the coordinator, NATS and the agents' protocol
 * work. Printed per configuration (`mem`: the Coordinator alone in this process, on an in-memory
 * queue and state store, with fake agents in this process too and no NATS; `off`: over NATS,
 * observability off; `on`: over NATS as `build-all-wolfi` runs it):
 *   - builds per second: one dispatch decision and one report each (decisions + reports per
 *     second is twice that);
 *   - coordinator CPU per build (this process, from the first dispatch to the end of the run),
 *     and the agents' process CPU per build beside it (from /proc: what the other side costs);
 *   - the load average at the start (the machine is shared: CPU time is the figure to compare).
 *
 *   npm run bench -- coordinator-throughput [slotsPerArch=64] [configs=mem,off,on]
 * A config `off-prof` or `on-prof` runs the same under a V8 CPU profile (the coordinator process
 * only, the run alone, not the planning), written to `<BENCH_CPU_PROF or tmpdir>/coordinator-<config>.cpuprofile`:
 * its figures include the profiler's overhead. `NODE_OPTIONS="--cpu-prof --cpu-prof-dir=DIR"` profiles
 * both processes, the fake agents' too (they exit in order when the parent ends them).
 * Needs NATS_URL (from `melange2-orch daemons status`) or starts a private nats-server.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOnSources } from './on-sources.ts';

const self = fileURLToPath(import.meta.url);
runOnSources(self, '@melange2/engine');

const { planWolfi, wolfiCorpus: corpus, wolfiRunInputs } = await import('./wolfi-lib.js');
const { benchNats, benchNatsOptions, dropNamespace, processCpuMs, spawnAgentProcess, startFakeAgents } =
  await import('./fake-agents.js');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A V8 CPU profile of `f` (this process), written to `file`. */
async function profiled<T>(file: string | undefined, f: () => Promise<T>): Promise<T> {
  if (!file) return f();
  const { Session } = await import('node:inspector/promises');
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.setSamplingInterval', { interval: 200 });
  await s.post('Profiler.start');
  try {
    return await f();
  } finally {
    const { profile } = await s.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    s.disconnect();
  }
}

type Plan = Awaited<ReturnType<typeof planWolfi>>;
type Key = import('@melange2/apk').SigningKey;

/**
 * The Coordinator alone: an in-memory queue and state store, and `slots` fake agents per arch in
 * this process that take a job, say it started and report it succeeded at once (no packages).
 */
async function inProcess(plan: Plan, signingKey: Key, slots: number, prof: string | undefined) {
  const { Coordinator, IndexPublisher, LocalRepositoryStore } = await import('@melange2/coordinator');
  const { LocalStaging } = await import('@melange2/protocol');
  const { MemoryStateStore, MemoryWorkQueue } = await import('@melange2/queue');
  type Job = import('@melange2/protocol').BuildJob;
  const dir = mkdtempSync(join(tmpdir(), 'm2-bench-mem-'));
  try {
    const queue = new MemoryWorkQueue<Job>();
    const c = new Coordinator({
      runId: 'bench',
      plan,
      queue,
      staging: new LocalStaging(join(dir, 'staging')),
      publisher: new IndexPublisher({
        store: new LocalRepositoryStore(join(dir, 'repo')),
        signingKey,
        records: new MemoryStateStore(),
      }),
      signingKey,
      state: new MemoryStateStore(),
      published: join(dir, 'repo'),
    });
    const arches = ['x86_64', 'aarch64'];
    const beat = () => {
      for (const arch of arches)
        c.agentEvent({ type: 'heartbeat', agent: `fake-${arch}`, arch, slots, busy: 0, alive: true });
    };
    const beating = setInterval(beat, 1000);
    let done = false;
    const slot = async (arch: string) => {
      const consumer = await queue.consumer(arch);
      while (!done) {
        const d = await consumer.next({ expiresMs: 1000 });
        if (!d) continue;
        const { runId, id, attempt, token } = d.data;
        const agent = `fake-${arch}`;
        c.agentEvent({ type: 'started', runId, id, attempt, token, agent });
        await c.report({
          runId,
          id,
          attempt,
          token,
          agent,
          durationMs: 0,
          outcome: { kind: 'succeeded', apks: [], steps: { total: 1, cached: 0 } },
        });
        await d.ack();
      }
    };
    const cpu0 = process.cpuUsage();
    const w0 = performance.now();
    const { r, wallMs, cpu } = await profiled(prof, async () => {
      const run = c.run();
      beat();
      const loops = arches.flatMap((a) => Array.from({ length: slots }, () => slot(a)));
      const result = await run;
      // Up to the end of the run: the slots' last empty pulls are not its work.
      const end = { r: result, wallMs: performance.now() - w0, cpu: process.cpuUsage(cpu0) };
      done = true;
      await Promise.all(loops);
      return end;
    });
    clearInterval(beating);
    await queue.close();
    return {
      dispatched: r.dispatched,
      built: r.rows.filter((x) => x.state === 'succeeded').length,
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const slots = Number(process.argv[2] ?? 64);
  const configs = (process.argv[3] ?? 'mem,off,on').split(',');
  if (!existsSync(corpus)) {
    process.stdout.write(`coordinator-throughput: skipped, no corpus at ${corpus}\n`);
    return;
  }
  const stopNats = await benchNats();
  const { runDistributed } = await import('@melange2/coordinator');
  const { connect } = await import('@nats-io/transport-node');
  const { generateKeyPair, signingKeyFromPem } = await import('@melange2/apk');
  const profDir = process.env['BENCH_CPU_PROF'] ?? tmpdir();
  mkdirSync(profDir, { recursive: true });

  const plan = await planWolfi();
  process.stdout.write(
    `wolfi: ${plan.builds.length} builds; ${slots} slots per arch, instant fake agents; load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  );
  const kp = await generateKeyPair(2048);
  const key = signingKeyFromPem(kp.privatePem, 'bench.rsa.pub');
  const nc = await connect(benchNatsOptions());
  for (const config of configs) {
    if (config.startsWith('mem')) {
      const m = await inProcess(
        plan,
        key,
        slots,
        config.endsWith('-prof') ? join(profDir, `coordinator-${config}.cpuprofile`) : undefined,
      );
      const n = Math.max(1, m.dispatched);
      process.stdout.write(
        `${config.padEnd(16)}: ${m.dispatched} builds in ${(m.wallMs / 1000).toFixed(2)}s = ${((n / m.wallMs) * 1000).toFixed(0)} builds/s ` +
          `(${((2 * n * 1000) / m.wallMs).toFixed(0)} decisions + reports/s); CPU ${(m.cpuMs / n).toFixed(3)} ms/build, ` +
          `the fake agents' part included (${((m.cpuMs / m.wallMs) * 100).toFixed(0)} % of a core); ${m.built} built\n`,
      );
      continue;
    }
    const ns = `bench${Date.now().toString(36)}`;
    const { child, out } = spawnAgentProcess(self, [ns, String(slots)]);
    while (!out().includes('ready\n')) await sleep(50);
    let first: { wall: number; cpu: NodeJS.CpuUsage; agentMs: number } | undefined;
    const load = loadavg()[0]!;
    const prof = config.endsWith('-prof') ? join(profDir, `coordinator-${config}.cpuprofile`) : undefined;
    const r = await profiled(prof, () =>
      runDistributed({
        nc,
        ns,
        ...wolfiRunInputs,
        signingKey: key,
        observe: config.startsWith('on'),
        onEvent: (e) => {
          // From the first decision: the run's setup (plan against the empty index) is not the rate.
          if (e.type === 'dispatched' && !first)
            first = { wall: performance.now(), cpu: process.cpuUsage(), agentMs: processCpuMs(child.pid!) };
        },
      }),
    );
    const wall = performance.now() - (first?.wall ?? 0);
    const cpu = process.cpuUsage(first?.cpu);
    const agentMs = processCpuMs(child.pid!) - (first?.agentMs ?? 0);
    child.kill();
    const n = Math.max(1, r.dispatched);
    const built = r.rows.filter((x) => x.state === 'succeeded').length;
    process.stdout.write(
      `nats, observe ${config.padEnd(8)}: ${r.dispatched} builds in ${(wall / 1000).toFixed(2)}s = ` +
        `${((n / wall) * 1000).toFixed(0)} builds/s (${((2 * n * 1000) / wall).toFixed(0)} decisions + reports/s); ` +
        `coordinator CPU ${((cpu.user + cpu.system) / 1000 / n).toFixed(3)} ms/build ` +
        `(${(((cpu.user + cpu.system) / 1000 / wall) * 100).toFixed(0)} % of a core), ` +
        `agents ${(agentMs / n).toFixed(3)} ms/build; ${built} built; load at start ${load.toFixed(2)}\n`,
    );
    if (prof) process.stdout.write(`  profile: ${prof}\n`);
    await dropNamespace(nc, ns);
  }
  await nc.close();
  await stopNats();
}

if (process.argv[2] === '--agents') {
  const [, , , ns, slots] = process.argv;
  await startFakeAgents({ ns: ns!, slots: Number(slots), scale: 0, logKb: 0 });
  process.stdout.write('ready\n');
  // Killed by the parent with SIGTERM: an orderly exit, so that `NODE_OPTIONS=--cpu-prof` writes
  // the agents' profile too.
  process.on('SIGTERM', () => process.exit(0));
  // The parent kills this process when the run is over.
  await new Promise(() => {});
} else {
  await main();
}
