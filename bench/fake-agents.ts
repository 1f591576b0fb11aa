/** Fake agents for the coordinator benches: real NATS agents whose builds only sleep (and log). */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuildJob } from '@melange2/protocol';
import { natsFileOptions } from '@melange2/queue';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { wolfiCorpus } from './wolfi-lib.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const env = (k: string) => process.env[k] || undefined;

/** Connection options from NATS_URL, NATS_TLS_CA and NATS_NKEY (the coordinator's credentials). */
export function benchNatsOptions() {
  const tlsCa = env('NATS_TLS_CA');
  const nkey = env('NATS_NKEY');
  return natsFileOptions({
    url: env('NATS_URL') ?? '',
    ...(tlsCa ? { tlsCa } : {}),
    ...(nkey ? { nkey } : {}),
  });
}

/**
 * NATS for a bench: the server at NATS_URL, or a private nats-server started now (NATS_URL is
 * set to it); the returned function stops what was started.
 */
export async function benchNats(): Promise<() => Promise<void>> {
  if (process.env['NATS_URL']) return async () => {};
  const { startNats } = await import('@melange2/daemons');
  const stateDir = mkdtempSync(join(tmpdir(), 'm2-bench-nats-'));
  const n = await startNats({ stateDir });
  process.env['NATS_URL'] = n.url;
  // The server's JetStream store and auth files go with it: a bench leaves nothing in /tmp.
  return async () => {
    await n.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
}

/** Removes a bench run's namespace: its streams, buckets and object stores. */
export async function dropNamespace(nc: NatsConnection, ns: string): Promise<void> {
  const { natsStreams } = await import('@melange2/protocol');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const jsm = await jetstreamManager(nc);
  for (const s of natsStreams(ns)) await jsm.streams.delete(s).catch(() => false);
}

/** Creates a namespace's work queue and its consumers, as a coordinator's first run does. */
export async function prepareQueue(nc: NatsConnection, ns: string, arches: readonly string[]): Promise<void> {
  const { openJobQueue } = await import('@melange2/protocol');
  const q = await openJobQueue(nc, ns);
  for (const arch of arches) await q.depth(arch);
  await q.close();
}

export interface FakeAgentOptions {
  readonly ns: string;
  /** Slots per arch, in agents of 4 slots. */
  readonly slots: number;
  /** Milliseconds slept per declared cpu (1 cpu when undeclared); 0 answers at once (no timer). */
  readonly scale: number;
  /** KB of log written per build; 0 keeps no logs; absent, the agents' default log (its header). */
  readonly logKb?: number;
}

/**
 * Agents of both arches on one connection with the coordinator's credentials (they have every
 * permission: a fresh namespace per run needs no agent users).
 */
export async function startFakeAgents(o: FakeAgentOptions): Promise<void> {
  const { generateKeyPair, signingKeyFromPem } = await import('@melange2/apk');
  const agentLib = await import('@melange2/agent');
  const nc = await connect(benchNatsOptions());
  const kp = await generateKeyPair(2048);
  const key = signingKeyFromPem(kp.privatePem, 'bench.rsa.pub');
  const perAgent = Math.min(4, o.slots);
  const lines = (o.logKb ?? 0) * 10;
  const line = `${'x'.repeat(95)} step`;
  for (const arch of ['x86_64', 'aarch64'])
    for (let i = 0; i < Math.ceil(o.slots / perAgent); i++)
      await agentLib.startNatsAgent({
        nc,
        ns: o.ns,
        arch,
        slots: perAgent,
        // Builds each agent pulls ahead of its slots while builds are short (default 0: see the README).
        ...(process.env['BENCH_PREFETCH'] ? { prefetch: Number(process.env['BENCH_PREFETCH']) } : {}),
        id: `${arch}-${i}`,
        repoRoot: wolfiCorpus,
        signingKey: key,
        ...(o.logKb === 0 ? { logMaxBytes: 0 } : {}),
        execute: async (job: BuildJob, ctx) => {
          for (let n = 0; n < lines; n++) ctx.log(`${n} ${line}`);
          if (o.scale > 0) await sleep(((job.cost ?? 60_000) / 60_000) * o.scale);
          return { kind: 'succeeded', apks: [], steps: { total: 1, cached: 0 } };
        },
      });
}

/**
 * `script --agents …args` in another node process (the fake agents' CPU is not the
 * coordinator's); `out()` is what it printed so far.
 */
export function spawnAgentProcess(script: string, args: readonly string[]) {
  const child = spawn(
    process.execPath,
    ['--conditions=@melange2/source', '--import', 'tsx', script, '--agents', ...args],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  return { child, out: () => out };
}

/** CPU time (user + system, ms) a process of this machine has used so far (Linux: /proc). */
export function processCpuMs(pid: number): number {
  // utime and stime are fields 14 and 15, counted after the `(comm)` field that may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}
