import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Platform, archOfPlatform } from './arch.js';
import { launch, terminate } from './process.js';
import { canConnect } from './probe.js';
import { findTool } from './tools.js';

export interface BuildkitdOptions {
  readonly platform: Platform;
  /** Holds the socket, `--root` and the log. Keep it short: unix socket paths max out at 107 bytes. */
  readonly stateDir: string;
  readonly detached?: boolean;
  readonly debug?: boolean;
  readonly timeoutMs?: number;
}

export interface RunningBuildkitd {
  readonly kind: 'buildkitd';
  readonly platform: Platform;
  readonly address: string;
  readonly pid: number;
  readonly logFile: string;
  readonly stateDir: string;
  stop(): Promise<void>;
}

export function buildkitdArgs(o: {
  platform: Platform;
  socket: string;
  root: string;
  otelSocket: string;
  debug?: boolean;
}): string[] {
  return [
    '--addr',
    `unix://${o.socket}`,
    '--root',
    o.root,
    // Its own trace socket: the default /run/buildkit/otel-grpc.sock is shared by every daemon
    // on the host, and two starting at once collide on it.
    '--otel-socket-path',
    o.otelSocket,
    '--oci-worker-platform',
    o.platform,
    '--oci-worker-snapshotter',
    'auto',
    // No CNI plugins come with a go-installed daemon: builds share the host network.
    '--oci-worker-net',
    'host',
    ...(o.debug ? ['--debug'] : []),
  ];
}

/** Starts one buildkitd that advertises exactly `platform` (OCI worker, runc). */
export async function startBuildkitd(o: BuildkitdOptions): Promise<RunningBuildkitd> {
  mkdirSync(o.stateDir, { recursive: true });
  const socket = join(o.stateDir, 'buildkitd.sock');
  const logFile = join(o.stateDir, 'buildkitd.log');
  const runc = findTool('runc');
  const bin = findTool('buildkitd');
  const env = { ...process.env, PATH: `${join(runc, '..')}:${process.env['PATH'] ?? ''}` };
  const { pid, child } = await launch({
    label: `buildkitd (${o.platform}, ${archOfPlatform(o.platform)})`,
    command: bin,
    args: buildkitdArgs({
      platform: o.platform,
      socket,
      root: join(o.stateDir, 'root'),
      otelSocket: join(o.stateDir, 'otel-grpc.sock'),
      debug: o.debug ?? false,
    }),
    logFile,
    env,
    ready: () => canConnect({ path: socket }),
    detached: o.detached ?? false,
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
  });
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
  return {
    kind: 'buildkitd',
    platform: o.platform,
    address: `unix://${socket}`,
    pid,
    logFile,
    stateDir: o.stateDir,
    async stop() {
      await terminate(pid);
      if (!o.detached) await exited;
    },
  };
}
