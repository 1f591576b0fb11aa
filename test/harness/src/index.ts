import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as daemons from '@melange2/daemons';

/**
 * Daemons for tests: each call starts a private daemon in its own temp dir; `stop` ends only
 * that daemon and removes its dir. A local process by default; in a container of the project's
 * daemons image when a Docker-compatible engine answers at DOCKER_HOST and holds that image
 * (containers.ts).
 */
export interface TestBuildkitd {
  readonly address: string;
  readonly platform: daemons.Platform;
  readonly runsIn: RunsIn;
  stop(): Promise<void>;
}

export interface TestNats {
  readonly url: string;
  readonly runsIn: RunsIn;
  stop(): Promise<void>;
}

type RunsIn = 'process' | 'container';

/** containers.ts when daemons should run in containers (it loads testcontainers only then). */
async function containers(): Promise<typeof import('./containers.js') | undefined> {
  if (!process.env['DOCKER_HOST']) return undefined;
  const c = await import('./containers.js');
  return (await c.containersAvailable()) ? c : undefined;
}

function tempDir(prefix: string): string {
  // Under /tmp, not the checkout: unix socket paths must stay under 108 bytes.
  return mkdtempSync(join(tmpdir(), `m2-${prefix}-`));
}

function removeDir(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (e) {
    // buildkitd may leave a mount busy for a moment; a leftover temp dir must not fail a test.
    process.stderr.write(`harness: could not remove ${dir}: ${(e as Error).message}\n`);
  }
}

export async function startBuildkitd(o: {
  platform: daemons.Platform;
  debug?: boolean;
}): Promise<TestBuildkitd> {
  const dir = tempDir(o.platform === 'linux/amd64' ? 'bk-amd64' : 'bk-arm64');
  try {
    const c = await containers();
    const d = c
      ? await c.startBuildkitdContainer(o.platform, dir)
      : await daemons.startBuildkitd({ platform: o.platform, stateDir: dir, debug: o.debug ?? false });
    return {
      address: d.address,
      platform: o.platform,
      runsIn: c ? 'container' : 'process',
      async stop() {
        await d.stop();
        removeDir(dir);
      },
    };
  } catch (e) {
    removeDir(dir);
    throw e;
  }
}

export async function startNats(): Promise<TestNats> {
  const dir = tempDir('nats');
  try {
    const c = await containers();
    const n = c ? await c.startNatsContainer() : await daemons.startNats({ stateDir: dir });
    return {
      url: n.url,
      runsIn: c ? 'container' : 'process',
      async stop() {
        await n.stop();
        removeDir(dir);
      },
    };
  } catch (e) {
    removeDir(dir);
    throw e;
  }
}

/** What the global setup hands every test: `inject('daemons')` or the same names in env. */
export interface DaemonAddresses {
  readonly buildkit: Record<daemons.Arch, string>;
  readonly natsUrl: string;
}

export const ENV_NAMES = {
  x86_64: 'BUILDKIT_ADDR_X86_64',
  aarch64: 'BUILDKIT_ADDR_AARCH64',
  nats: 'NATS_URL',
} as const;

/** Addresses already given in env (e.g. `eval "$(melange2-orch daemons status)"`), if complete. */
export function addressesFromEnv(env: NodeJS.ProcessEnv = process.env): DaemonAddresses | undefined {
  const x = env[ENV_NAMES.x86_64];
  const a = env[ENV_NAMES.aarch64];
  const n = env[ENV_NAMES.nats];
  return x && a && n ? { buildkit: { x86_64: x, aarch64: a }, natsUrl: n } : undefined;
}

/** Starts one set (both buildkitds and NATS) concurrently; `stop` ends all three. */
export async function startDaemonSet(): Promise<DaemonAddresses & { stop(): Promise<void> }> {
  const started = await Promise.allSettled([
    startBuildkitd({ platform: 'linux/amd64' }),
    startBuildkitd({ platform: 'linux/arm64' }),
    startNats(),
  ]);
  const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.flatMap((s) => (s.status === 'rejected' ? [s.reason as Error] : []));
  const stopAll = async () => {
    await Promise.all(ok.map((d) => d.stop()));
  };
  if (failed.length > 0) {
    await stopAll();
    throw failed[0];
  }
  const [amd, arm, nats] = ok as [TestBuildkitd, TestBuildkitd, TestNats];
  return { buildkit: { x86_64: amd.address, aarch64: arm.address }, natsUrl: nats.url, stop: stopAll };
}

export { type ReceivedSpan, startOtlpReceiver } from './otlp-receiver.js';
