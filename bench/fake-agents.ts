/** Fake agents for the coordinator benches: real NATS agents whose builds only sleep (and log). */
import { spawn } from 'node:child_process';
import type { BuildJob } from '@melange2/protocol';
import { natsFileOptions } from '@melange2/queue';
import { connect } from '@nats-io/transport-node';
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

export interface FakeAgentOptions {
  readonly ns: string;
  /** Slots per arch, in agents of 4 slots. */
  readonly slots: number;
  /** Milliseconds slept per declared cpu (1 cpu when undeclared). */
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
        id: `${arch}-${i}`,
        repoRoot: wolfiCorpus,
        signingKey: key,
        ...(o.logKb === 0 ? { logMaxBytes: 0 } : {}),
        execute: async (job: BuildJob, ctx) => {
          for (let n = 0; n < lines; n++) ctx.log(`${n} ${line}`);
          await sleep(((job.cost ?? 60_000) / 60_000) * o.scale);
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
