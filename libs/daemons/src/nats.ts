import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { launch, terminate } from './process.js';
import { canConnect, freePort } from './probe.js';
import { findTool } from './tools.js';

export interface NatsOptions {
  readonly stateDir: string;
  /** Loopback port; a free one is picked when absent. */
  readonly port?: number;
  readonly detached?: boolean;
  readonly timeoutMs?: number;
}

export interface RunningNats {
  readonly kind: 'nats';
  readonly url: string;
  readonly pid: number;
  readonly logFile: string;
  readonly stateDir: string;
  stop(): Promise<void>;
}

/** Starts `nats-server -js` on loopback with its own JetStream store dir. */
export async function startNats(o: NatsOptions): Promise<RunningNats> {
  mkdirSync(o.stateDir, { recursive: true });
  const logFile = join(o.stateDir, 'nats-server.log');
  const host = '127.0.0.1';
  const port = o.port ?? (await freePort(host));
  const { pid, child } = await launch({
    label: 'nats-server',
    command: findTool('nats-server'),
    args: ['-js', '-a', host, '-p', String(port), '-sd', join(o.stateDir, 'jetstream')],
    logFile,
    ready: () => canConnect({ host, port }),
    detached: o.detached ?? false,
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
  });
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  return {
    kind: 'nats',
    url: `nats://${host}:${port}`,
    pid,
    logFile,
    stateDir: o.stateDir,
    async stop() {
      await terminate(pid);
      if (!o.detached) await exited;
    },
  };
}
