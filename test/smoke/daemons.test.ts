import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findTool, isAlive, toolsDir } from '@melange2/daemons';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, inject, it } from 'vitest';
import { natsConnect, startNats } from '../harness/src/index.ts';

const run = promisify(execFile);
const daemons = inject('daemons');

/** The platforms a buildkitd reports, first its configured one (`buildctl debug workers`). */
async function workerPlatforms(address: string): Promise<string[]> {
  const { stdout } = await run(findTool('buildctl'), ['--addr', address, 'debug', 'workers']);
  const row = stdout.trim().split('\n')[1] ?? '';
  return (row.split(/\s+/)[1] ?? '').split(',');
}

describe('buildkitd, one per platform', () => {
  it('x86_64 daemon answers and reports linux/amd64 first', async () => {
    expect((await workerPlatforms(daemons.buildkit.x86_64))[0]).toBe('linux/amd64');
  });

  it('aarch64 daemon answers and reports linux/arm64 first', async () => {
    expect((await workerPlatforms(daemons.buildkit.aarch64))[0]).toBe('linux/arm64');
  });
});

describe('nats-server with JetStream', () => {
  it('creates a stream, publishes, consumes and acks a message', async () => {
    const nc = await natsConnect(daemons.nats);
    try {
      const jsm = await jetstreamManager(nc);
      const stream = `SMOKE_${process.pid}_${Date.now()}`;
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
      const js = jetstream(nc);
      const ack = await js.publish(`${stream}.x86_64`, 'build busybox', { msgID: 'busybox-1' });
      expect(ack.seq).toBe(1);
      // The same message ID is deduplicated, as republished work must be.
      expect((await js.publish(`${stream}.x86_64`, 'build busybox', { msgID: 'busybox-1' })).duplicate).toBe(
        true,
      );
      await jsm.consumers.add(stream, { durable_name: 'agent', ack_policy: 'explicit' });
      const consumer = await js.consumers.get(stream, 'agent');
      const m = await consumer.next({ expires: 5000 });
      expect(m?.string()).toBe('build busybox');
      await m?.ackAck();
      const info = await jsm.consumers.info(stream, 'agent');
      expect(info.num_ack_pending).toBe(0);
      expect(info.delivered.stream_seq).toBe(1);
      await jsm.streams.delete(stream);
    } finally {
      await nc.close();
    }
  });

  it('a harness nats-server is locked down, stops when asked, and only that one', async () => {
    const n = await startNats();
    expect(n.url).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    const nc = await natsConnect(n.access);
    await nc.close();
    // Without credentials it refuses.
    await expect(
      natsConnect({ url: n.url, ...(n.access.tlsCa ? { tlsCa: n.access.tlsCa } : {}) }, { reconnect: false }),
    ).rejects.toThrow(/Authorization Violation/);
    await n.stop();
    await expect(connect({ servers: n.url, reconnect: false, timeout: 1000 })).rejects.toThrow();
    // The shared server is still there.
    const shared = await natsConnect(daemons.nats);
    await shared.close();
  });
});

describe('aarch64 emulation', () => {
  it('runs the static arm64 busybox under qemu: uname -m prints aarch64', async () => {
    const tools = toolsDir();
    expect(tools, 'the tools dir made by scripts/setup').toBeDefined();
    const { stdout } = await run(join(tools!, 'arm64', 'busybox'), ['uname', '-m']);
    expect(stdout.trim()).toBe('aarch64');
    expect(isAlive(process.pid)).toBe(true);
  });
});
