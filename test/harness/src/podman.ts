/**
 * A private rootful podman for tests: its own containers.conf (the ulimits this machine needs:
 * there is no CAP_SYS_RESOURCE to raise them) and storage root, nothing under /etc touched.
 * `stop` removes every container and image it holds and its whole root. Containers use the host
 * network only: all traffic stays on 127.0.0.1 (a podman bridge gateway is not local here).
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PodmanResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface TestPodman {
  /** CONTAINERS_CONF / CONTAINERS_STORAGE_CONF for any podman (or podman system service) of this root. */
  readonly env: NodeJS.ProcessEnv;
  readonly root: string;
  /** Runs `podman args…`; rejects with its output when it exits non-zero. */
  podman(args: readonly string[]): Promise<PodmanResult>;
  /** Runs `podman args…` and returns whatever it exits with. */
  tryPodman(args: readonly string[]): Promise<PodmanResult>;
  /** `podman system service` on a unix socket of this root: a Docker-compatible API (`unix://…`). */
  service(): Promise<string>;
  stop(): Promise<void>;
}

/** Whether podman is installed (scripts/setup installs it). */
export function podmanAvailable(): boolean {
  return ['/usr/bin/podman', '/usr/local/bin/podman'].some((p) => existsSync(p));
}

function writeConfs(root: string): NodeJS.ProcessEnv {
  const conf = join(root, 'containers.conf');
  const storage = join(root, 'storage.conf');
  writeFileSync(
    conf,
    [
      '[containers]',
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      'netns = "host"',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${join(root, 'events.log')}"`,
      `tmp_dir = "${join(root, 'tmp')}"`,
      `volume_path = "${join(root, 'volumes')}"`,
      '',
    ].join('\n'),
  );
  writeFileSync(
    storage,
    [
      '[storage]',
      'driver = "overlay"',
      `graphroot = "${join(root, 'graph')}"`,
      `runroot = "${join(root, 'run')}"`,
      '',
    ].join('\n'),
  );
  return { ...process.env, CONTAINERS_CONF: conf, CONTAINERS_STORAGE_CONF: storage };
}

export async function startPodman(): Promise<TestPodman> {
  // Under /tmp, not the test's TMPDIR: the service socket path must stay under 108 bytes.
  const root = mkdtempSync(join(tmpdir().length > 60 ? '/tmp' : tmpdir(), 'm2-podman-'));
  const env = writeConfs(root);
  const services: ReturnType<typeof spawn>[] = [];
  const tryPodman = (args: readonly string[]) =>
    new Promise<PodmanResult>((resolve) => {
      execFile('podman', [...args], { env, maxBuffer: 64 * 1024 * 1024 }, (e, stdout, stderr) => {
        const code = e ? (typeof e.code === 'number' ? e.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  const podman = async (args: readonly string[]) => {
    const r = await tryPodman(args);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.code}\n${r.stderr}${r.stdout}`);
    return r;
  };
  return {
    env,
    root,
    podman,
    tryPodman,
    async service() {
      const sock = join(root, 'podman.sock');
      const child = spawn('podman', ['system', 'service', '--time=0', `unix://${sock}`], {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr?.setEncoding('utf8').on('data', (s: string) => {
        err += s;
      });
      services.push(child);
      for (let i = 0; i < 200 && !existsSync(sock); i++) {
        if (child.exitCode !== null)
          throw new Error(`podman system service exited ${child.exitCode}: ${err}`);
        await sleep(50);
      }
      if (!existsSync(sock)) throw new Error(`podman system service did not create ${sock}: ${err}`);
      return `unix://${sock}`;
    },
    async stop() {
      for (const s of services) {
        s.kill('SIGTERM');
        if (s.exitCode === null) await new Promise((r) => s.once('exit', r));
      }
      await tryPodman(['rm', '--all', '--force', '--time', '0']);
      await tryPodman(['rmi', '--all', '--force']);
      // Whatever the storage still mounts (an interrupted run) is released before the root goes.
      await tryPodman(['system', 'reset', '--force']);
      rmSync(root, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}
