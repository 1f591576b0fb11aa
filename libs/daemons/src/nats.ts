import { mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { launch, terminate } from './process.js';
import { canConnect, freePort } from './probe.js';
import type { TlsFiles } from './tls.js';
import { findTool } from './tools.js';
import { writeOwnerOnly } from './write-file.js';

export interface NatsOptions {
  readonly stateDir: string;
  /** Loopback port; a free one is picked when absent. */
  readonly port?: number;
  readonly detached?: boolean;
  readonly timeoutMs?: number;
  /** Serve TLS only, with this certificate (clients verify it against `tls.ca`). */
  readonly tls?: TlsFiles;
  /** An `authorization { … }` file to include (see `writeNatsAuth`): without one, anyone may connect. */
  readonly authConf?: string;
}

export interface RunningNats {
  readonly kind: 'nats';
  /** `tls://127.0.0.1:<port>` when it serves TLS, else `nats://…`. */
  readonly url: string;
  readonly pid: number;
  readonly logFile: string;
  readonly stateDir: string;
  stop(): Promise<void>;
}

/** The server's config file: loopback, JetStream with its own store, TLS and authorization when given. */
function serverConfig(o: NatsOptions, host: string, port: number): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    `listen: ${q(`${host}:${port}`)}`,
    `jetstream { store_dir: ${q(join(o.stateDir, 'jetstream'))} }`,
    `pid_file: ${q(join(o.stateDir, 'nats-server.pid'))}`,
  ];
  if (o.tls)
    lines.push(
      `tls { cert_file: ${q(o.tls.cert)}, key_file: ${q(o.tls.key)}, ca_file: ${q(o.tls.ca)}, timeout: 5 }`,
    );
  // Included by a path relative to this file, as nats-server resolves includes.
  if (o.authConf) lines.push(`include ${q(relative(o.stateDir, o.authConf))}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Starts `nats-server` with JetStream on loopback with its own store dir, from a config file in
 * the state dir (TLS and authorization when given).
 */
export async function startNats(o: NatsOptions): Promise<RunningNats> {
  mkdirSync(o.stateDir, { recursive: true });
  const logFile = join(o.stateDir, 'nats-server.log');
  const host = '127.0.0.1';
  const port = o.port ?? (await freePort(host));
  const config = join(o.stateDir, 'nats-server.conf');
  writeOwnerOnly(config, serverConfig(o, host, port));
  const { pid, child } = await launch({
    label: 'nats-server',
    command: findTool('nats-server'),
    args: ['-c', config],
    logFile,
    ready: () => canConnect({ host, port }),
    detached: o.detached ?? false,
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
  });
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  return {
    kind: 'nats',
    url: `${o.tls ? 'tls' : 'nats'}://${host}:${port}`,
    pid,
    logFile,
    stateDir: o.stateDir,
    async stop() {
      await terminate(pid);
      if (!o.detached) await exited;
    },
  };
}
