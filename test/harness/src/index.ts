import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as daemons from '@melange2/daemons';
import { DEFAULT_NAMESPACE, farmRoles } from '@melange2/protocol';
import type { NatsAccess } from './nats.ts';

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
  /** The URL with the coordinator role's credentials and the CA (locked-down servers). */
  readonly access: NatsAccess;
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

/**
 * A private nats-server, locked down as `daemons up` starts it (TLS, an nkey user per role of the
 * default namespace; `agentAccess` adds others), or plain with `insecure`.
 */
export async function startNats(o: { insecure?: boolean } = {}): Promise<TestNats> {
  const dir = tempDir('nats');
  try {
    const c = await containers();
    if (c) {
      // The container path serves plain NATS: `agentAccess` adds users by rewriting the server's
      // authorization and reloading it, which a container of the daemons image does not offer.
      const n = await c.startNatsContainer();
      return {
        url: n.url,
        runsIn: 'container',
        access: { url: n.url },
        async stop() {
          await n.stop();
          removeDir(dir);
        },
      };
    }
    const files = o.insecure
      ? undefined
      : await daemons.writeNatsSecurity(join(dir, 'auth'), {
          roles: farmRoles([DEFAULT_NAMESPACE], daemons.ARCHES),
          hosts: ['127.0.0.1', 'localhost'],
        });
    const n = await daemons.startNats({
      stateDir: dir,
      ...(files ? { tls: files.tls, authConf: files.authConf } : {}),
    });
    return {
      url: n.url,
      runsIn: 'process',
      access: files ? { url: n.url, tlsCa: files.tls.ca, nkey: files.seeds['coordinator']! } : { url: n.url },
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
  /** The URL, CA and coordinator credentials (`natsConnect`, `natsArgs`, `agentAccess`). */
  readonly nats: NatsAccess;
}

export const ENV_NAMES = {
  x86_64: 'BUILDKIT_ADDR_X86_64',
  aarch64: 'BUILDKIT_ADDR_AARCH64',
  nats: 'NATS_URL',
  natsTlsCa: 'NATS_TLS_CA',
  natsNkey: 'NATS_NKEY',
} as const;

/** Addresses already given in env (e.g. `eval "$(melange2-orch daemons status)"`), if complete. */
export function addressesFromEnv(env: NodeJS.ProcessEnv = process.env): DaemonAddresses | undefined {
  const x = env[ENV_NAMES.x86_64];
  const a = env[ENV_NAMES.aarch64];
  const n = env[ENV_NAMES.nats];
  if (!x || !a || !n) return undefined;
  const ca = env[ENV_NAMES.natsTlsCa];
  const nkey = env[ENV_NAMES.natsNkey];
  return {
    buildkit: { x86_64: x, aarch64: a },
    natsUrl: n,
    nats: { url: n, ...(ca ? { tlsCa: ca } : {}), ...(nkey ? { nkey } : {}) },
  };
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
  return {
    buildkit: { x86_64: amd.address, aarch64: arm.address },
    natsUrl: nats.url,
    nats: nats.access,
    stop: stopAll,
  };
}

export {
  agentAccess,
  type NatsAccess,
  type NatsRoleAccess,
  natsArgs,
  natsConnect,
} from './nats.ts';

export { natsNamespaces, removeNamespace, type TestNamespaces } from './nats-namespaces.ts';
export { type ReceivedSpan, startOtlpReceiver } from './otlp-receiver.js';
