import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { DaemonStartError } from './errors.js';

export interface LaunchSpec {
  /** Name used in errors, e.g. `buildkitd (linux/arm64)`. */
  readonly label: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  /** Resolves true once the daemon serves; polled, never slept on blindly. */
  readonly ready: () => Promise<boolean>;
  readonly timeoutMs?: number;
  /** Detached daemons outlive this process (the `daemons up` command); others die with it. */
  readonly detached?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

export interface Launched {
  readonly pid: number;
  readonly child: ChildProcess;
}

function tailOfFile(file: string, lines = 20): string[] {
  try {
    const all = readFileSync(file, 'utf8').split('\n');
    if (all.at(-1) === '') all.pop();
    return all.slice(-lines);
  } catch {
    return [];
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Spawns a daemon with its output in `logFile` and waits until `ready()` says it serves. */
export async function launch(spec: LaunchSpec): Promise<Launched> {
  const fd = openSync(spec.logFile, 'a');
  const commandLine = [spec.command, ...spec.args].join(' ');
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      stdio: ['ignore', fd, fd],
      detached: spec.detached ?? false,
      env: spec.env ?? process.env,
    });
  } finally {
    closeSync(fd);
  }
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = signal ? `exited on signal ${signal}` : `exited with code ${code}`;
  });
  const spawnError = new Promise<string>((res) => child.once('error', (e) => res(e.message)));
  let error: string | undefined;
  void spawnError.then((m) => {
    error = m;
  });
  const fail = (reason: string): never => {
    throw new DaemonStartError(spec.label, reason, commandLine, tailOfFile(spec.logFile), spec.logFile);
  };
  const deadline = Date.now() + (spec.timeoutMs ?? 60_000);
  let delay = 20;
  for (;;) {
    if (error) fail(error);
    if (exited) fail(exited);
    if (await spec.ready().catch(() => false)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      fail(`not ready after ${spec.timeoutMs ?? 60_000} ms`);
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 250);
  }
  if (spec.detached) child.unref();
  if (child.pid === undefined) fail('no pid');
  return { pid: child.pid!, child };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function terminate(pid: number, graceMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        return;
      }
    }
    await sleep(25);
  }
}
