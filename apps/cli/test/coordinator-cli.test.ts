import { startNatsAgent } from '@melange2/agent';
import { describe, expect, inject, it } from 'vitest';
import { runCli } from './cli-helpers-apk.js';
import { OS_REPO, osBootstrap } from '@melange2/test/os';
import { agentAccess, natsArgs, natsConnect, natsNamespaces } from '@melange2/test/harness';

const d = inject('daemons');

describe('melange2-orch coordinator / agent', () => {
  const nats = natsNamespaces('cli');
  let keyPath = '';
  // Long under load (2 cores, several builds, the server reloading its users).
  it('the coordinator command runs testdata/os with an agent over NATS and prints the summary', {
    timeout: 120_000,
  }, async () => {
    const b = await osBootstrap(['x86_64']);
    keyPath = b.keyPath;
    const ns = nats.fresh();
    // The agent with its arch's agent credentials; the coordinator command with the coordinator's.
    const nc = await natsConnect(await agentAccess(d.nats, ns, 'x86_64'));
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
        ...natsArgs(d.nats),
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

  // Only on a locked-down server (what `daemons up` starts; the shared one of a plain run is not).
  it.skipIf(!d.nats.nkey)(
    'a locked-down NATS refuses no credentials, a wrong password and an agent running a coordinator',
    async () => {
      const PASSWORD = 'Wr0ng-pw-never-printed';
      const saved = { nkey: process.env['NATS_NKEY'], password: process.env['NATS_PASSWORD'] };
      delete process.env['NATS_NKEY']; // the coordinator's credentials, which the test run may set
      const base = ['coordinator', OS_REPO, '--nats', d.nats.url, '--nats-tls-ca', d.nats.tlsCa!];
      const rest = ['--arch', 'x86_64', '--signing-key', keyPath, '--no-parse-cache'];
      try {
        const none = await runCli([...base, ...rest]);
        expect(none.code).toBe(3);
        expect(none.err).toContain(`NATS refused the credentials for ${d.nats.url}`);
        process.env['NATS_PASSWORD'] = PASSWORD;
        const wrong = await runCli([...base, '--nats-user', 'coordinator', ...rest]);
        expect(wrong.code).toBe(3);
        expect(wrong.err).toContain('NATS refused the credentials');
        expect(wrong.err + wrong.out).not.toContain(PASSWORD);
        delete process.env['NATS_PASSWORD'];
        const ns = nats.fresh('cliagent');
        const asAgent = await agentAccess(d.nats, ns, 'x86_64');
        const agentRuns = await runCli([...base, '--nats-nkey', asAgent.nkey!, '--namespace', ns, ...rest]);
        expect(agentRuns.code).not.toBe(0);
        expect(agentRuns.err).toMatch(/Permissions Violation/i);
      } finally {
        if (saved.nkey !== undefined) process.env['NATS_NKEY'] = saved.nkey;
        if (saved.password !== undefined) process.env['NATS_PASSWORD'] = saved.password;
        else delete process.env['NATS_PASSWORD'];
      }
    },
  );
});
