import type { TestProject } from 'vitest/node';
import { addressesFromEnv, ENV_NAMES, startDaemonSet } from './index.ts';

/**
 * One set of real daemons per test run: reuses the set named in env (the test command starts
 * one for all packages), else starts a private one and stops it after the run.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = addressesFromEnv();
  if (given) {
    project.provide('daemons', given);
    return undefined;
  }
  const set = await startDaemonSet();
  process.env[ENV_NAMES.x86_64] = set.buildkit.x86_64;
  process.env[ENV_NAMES.aarch64] = set.buildkit.aarch64;
  process.env[ENV_NAMES.nats] = set.natsUrl;
  if (set.nats.tlsCa) process.env[ENV_NAMES.natsTlsCa] = set.nats.tlsCa;
  if (set.nats.nkey) process.env[ENV_NAMES.natsNkey] = set.nats.nkey;
  project.provide('daemons', { buildkit: set.buildkit, natsUrl: set.natsUrl, nats: set.nats });
  return () => set.stop();
}
