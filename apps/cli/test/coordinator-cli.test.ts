import { startNatsAgent } from '@melange2/agent';
import { natsStreams } from '@melange2/protocol';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, inject, it } from 'vitest';
import { runCli } from './cli-helpers-apk.js';
import { OS_REPO, osBootstrap } from '@melange2/test/os';

const d = inject('daemons');

describe('melange2-orch coordinator / agent', () => {
  let keyPath = '';
  it('the coordinator command runs testdata/os with an agent over NATS and prints the summary', async () => {
    const b = await osBootstrap(['x86_64']);
    keyPath = b.keyPath;
    const nc = await connect({ servers: d.natsUrl });
    const ns = `cli${process.pid}x${Date.now().toString(36)}`;
    const agent = await startNatsAgent({
      nc,
      ns,
      arch: 'x86_64',
      slots: 2,
      repoRoot: OS_REPO,
      buildkitAddr: d.buildkit.x86_64,
      cacheDir: b.cacheDir,
      heartbeatMs: 500,
    });
    try {
      const r = await runCli([
        'coordinator',
        OS_REPO,
        '--nats',
        d.natsUrl,
        '--namespace',
        ns,
        '--arch',
        'x86_64',
        '--signing-key',
        b.keyPath,
        '--repository-append',
        b.repo,
        '--no-parse-cache',
      ]);
      expect(r.err).toMatch(
        /run \S+: 13 build\(s\) for x86_64, 0 up to date; repository at http:\/\/127\.0\.0\.1:\d+/,
      );
      expect(r.out).toMatch(/10 built, 1 failed, 2 skipped, 0 up to date; 11 dispatched/);
      expect(r.code).toBe(1);
    } finally {
      await agent.close(true);
      const jsm = await jetstreamManager(nc);
      for (const s of natsStreams(ns)) await jsm.streams.delete(s).catch(() => false);
      await nc.close();
    }
  });

  it('bad flags are usage errors; an unreachable NATS is an environment error', async () => {
    const natsUrl = process.env['NATS_URL'];
    delete process.env['NATS_URL']; // --nats falls back to $NATS_URL, which the test run may set
    try {
      const noNats = await runCli(['coordinator', OS_REPO]);
      expect(noNats.code).toBe(2);
      expect(noNats.err).toContain('--nats is required');
    } finally {
      if (natsUrl !== undefined) process.env['NATS_URL'] = natsUrl;
    }
    expect((await runCli(['coordinator', OS_REPO, '--nats', d.natsUrl, '--lease-ms', '10'])).err).toMatch(
      /--lease-ms: expected a whole number ≥ 1000/,
    );
    expect(
      (await runCli(['agent', '--nats', d.natsUrl, '--arch', 'sparc', '--buildkit-addr', 'x'])).err,
    ).toMatch(/unknown architecture "sparc"/);
    const down = await runCli([
      'coordinator',
      OS_REPO,
      '--nats',
      'nats://127.0.0.1:1',
      '--arch',
      'x86_64',
      '--signing-key',
      keyPath,
    ]);
    expect(down.err).toMatch(/cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
    expect(down.code).toBe(3);
  });
});
