import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventCodec, natsNames } from '@melange2/protocol';
import { OS_REPO, type OsBootstrap, osBootstrap } from '@melange2/test/os';
import { natsNamespaces } from '@melange2/test/harness';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';

/**
 * A one-config repository (base-files) to run over the shared nats-server in a namespace of its
 * own, removed with everything it made after the file's tests. Registers its own hooks.
 */
export function oneBuildOverNats(prefix: string) {
  const nats = natsNamespaces(prefix);
  const ns = nats.fresh();
  const repo = mkdtempSync(join(tmpdir(), `m2-${prefix}-`));
  let b: OsBootstrap | undefined;
  beforeAll(async () => {
    b = await osBootstrap(['x86_64']);
    cpSync(join(OS_REPO, 'base-files.yaml'), join(repo, 'base-files.yaml'));
  });
  afterAll(() => {
    rmSync(repo, { recursive: true, force: true });
    if (b) rmSync(b.dir, { recursive: true, force: true });
  });
  return {
    ns,
    names: natsNames(ns),
    get nc(): NatsConnection {
      return nats.nc;
    },
    /** What `runDistributed` needs for this repository. */
    options() {
      return {
        nc: nats.nc,
        ns,
        repo,
        arches: ['x86_64'] as const,
        signingKey: b!.key,
        repositoryAppend: [b!.repo],
        cacheDir: false as const,
      };
    },
    /** A fake agent's heartbeats, giving the coordinator one slot; returns how to stop them. */
    heartbeats(): () => void {
      const beat = eventCodec.encode({
        type: 'heartbeat',
        agent: 'fake',
        arch: 'x86_64',
        slots: 1,
        busy: 0,
        alive: true,
      });
      const t = setInterval(() => nats.nc.publish(natsNames(ns).events, beat), 100);
      return () => clearInterval(t);
    },
  };
}
