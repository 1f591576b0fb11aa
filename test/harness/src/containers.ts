/**
 * buildkitd and nats-server in containers, through testcontainers, when a Docker-compatible
 * engine answers at DOCKER_HOST (Docker, or `podman system service`) and holds the project's
 * daemons image (`melange2-orch image build --image daemons`, then `podman load`/`docker load`).
 * The containers use the host network and listen on 127.0.0.1 only; buildkitd's socket and
 * state live in a host directory mounted at the same path, so callers see the same addresses
 * as with local processes. Set TESTCONTAINERS_RYUK_DISABLED=true for podman, and
 * TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 where /.dockerenv exists (else testcontainers picks a
 * bridge gateway, which is not local on these machines).
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Platform } from '@melange2/daemons';
import { freePort } from '@melange2/daemons';
import { buildkitdArgs } from '@melange2/daemons/internal';
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';
import { ROOT } from './os-bootstrap.js';

/** The daemons image: MELANGE2_DAEMONS_IMAGE, else the one `image build --image daemons` names. */
export function daemonsImage(): string {
  const given = process.env['MELANGE2_DAEMONS_IMAGE'];
  if (given) return given;
  const { version } = JSON.parse(readFileSync(join(ROOT, 'apps/cli/package.json'), 'utf8')) as {
    version: string;
  };
  return `localhost/melange2-orch-daemons:${version}`;
}

/** GET `path` of the engine at DOCKER_HOST: its status, or undefined when nothing answers. */
function engineGet(path: string): Promise<number | undefined> {
  const host = process.env['DOCKER_HOST'];
  if (!host) return Promise.resolve(undefined);
  const target = host.startsWith('unix://')
    ? { socketPath: host.slice('unix://'.length) }
    : (() => {
        const u = new URL(host.replace(/^tcp:/, 'http:'));
        return { host: u.hostname, port: Number(u.port || 2375) };
      })();
  return new Promise((resolve) => {
    const req = request({ ...target, path, method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** Whether daemons should run in containers: an engine answers at DOCKER_HOST and has the image. */
export async function containersAvailable(): Promise<boolean> {
  if ((await engineGet('/_ping')) !== 200) return false;
  return (await engineGet(`/images/${encodeURIComponent(daemonsImage())}/json`)) === 200;
}

/** A daemon's container; `stop` removes it. */
async function run(
  entrypoint: string,
  args: readonly string[],
  o: { privileged?: boolean; mount?: string; ready: RegExp },
): Promise<StartedTestContainer> {
  let c = new GenericContainer(daemonsImage())
    .withNetworkMode('host')
    .withUser('0')
    .withEntrypoint([entrypoint])
    .withCommand([...args])
    .withWaitStrategy(Wait.forLogMessage(o.ready))
    .withStartupTimeout(120_000);
  if (o.privileged) c = c.withPrivilegedMode();
  if (o.mount) c = c.withBindMounts([{ source: o.mount, target: o.mount, mode: 'rw' }]);
  return c.start();
}

/** buildkitd for `platform` in a privileged container (runc needs it), its socket in `dir`. */
export async function startBuildkitdContainer(platform: Platform, dir: string) {
  const socket = join(dir, 'buildkitd.sock');
  const c = await run(
    '/usr/local/bin/buildkitd',
    buildkitdArgs({ platform, socket, root: join(dir, 'root'), otelSocket: join(dir, 'otel-grpc.sock') }),
    { privileged: true, mount: dir, ready: /running server on/ },
  );
  return {
    address: `unix://${socket}`,
    container: c,
    stop: async () => void (await c.stop({ timeout: 10_000 })),
  };
}

/** nats-server -js on a free loopback port, its store inside the container. */
export async function startNatsContainer() {
  const port = await freePort();
  const c = await run(
    '/usr/local/bin/nats-server',
    ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', '/tmp/js'],
    {
      ready: /Server is ready/,
    },
  );
  return {
    url: `nats://127.0.0.1:${port}`,
    container: c,
    stop: async () => void (await c.stop({ timeout: 10_000 })),
  };
}
