/**
 * `--buildkit-tls*` (buildctl's names): checked before connecting, and passed to the client of
 * every command that talks to buildkitd. A private buildkitd on 127.0.0.1 that requires client
 * certificates shows the agent command building-ready over mutual TLS, and refused without it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildkitClient } from '@melange2/buildkit';
import { agentAccess, type NatsAccess, natsArgs } from '@melange2/test/harness';
import { freePort } from '@melange2/daemons';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildkitTls } from '../src/flags/buildkit.js';
import { runCli } from './cli-helpers-apk.js';
import { usageMessage } from './usage-error.js';
import { hasOpenssl, makeCerts } from './tls-certs.js';

const d = inject('daemons');
const BUILDKITD = join(process.env['MELANGE2_TOOLS_DIR'] ?? '', 'bin', 'buildkitd');

const noTls = {
  buildkitTlscacert: undefined,
  buildkitTlscert: undefined,
  buildkitTlskey: undefined,
  buildkitTlsservername: undefined,
};

describe('buildkitTls: the flags, checked before connecting', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'm2-bk-tls-flags-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const usage = usageMessage;

  it('no flag, no TLS', () => {
    expect(buildkitTls(noTls)).toBeUndefined();
  });

  it('a missing or non-PEM file is a usage error naming its flag; cert and key go together', () => {
    const missing = join(dir, 'nope.pem');
    expect(usage(() => buildkitTls({ ...noTls, buildkitTlscacert: missing }))).toBe(
      `--buildkit-tlscacert: ${missing}: no such file`,
    );
    const text = join(dir, 'text');
    writeFileSync(text, 'hello\n');
    expect(usage(() => buildkitTls({ ...noTls, buildkitTlscert: text, buildkitTlskey: text }))).toBe(
      `--buildkit-tlscert: ${text}: not a PEM file`,
    );
    expect(usage(() => buildkitTls({ ...noTls, buildkitTlscert: text }))).toBe(
      '--buildkit-tlscert: needs --buildkit-tlskey',
    );
  });

  it('the agent command checks them before it connects to anything', async () => {
    const r = await runCli([
      'agent',
      '--arch',
      'x86_64',
      '--repo',
      dir,
      '--nats',
      'nats://127.0.0.1:1',
      '--buildkit-addr',
      'tcp://127.0.0.1:1',
      '--buildkit-tlscacert',
      join(dir, 'nope.pem'),
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--buildkit-tlscacert: ${join(dir, 'nope.pem')}: no such file`);
  });
});

describe.skipIf(!existsSync(BUILDKITD) || !hasOpenssl())(
  'a buildkitd that requires client certificates',
  () => {
    let dir = '';
    let addr = '';
    let daemon: ChildProcess | undefined;
    const cert = (f: string) => join(dir, 'certs', f);
    const full = () => ({
      buildkitTlscacert: cert('ca.pem'),
      buildkitTlscert: cert('client.pem'),
      buildkitTlskey: cert('client.key'),
      buildkitTlsservername: undefined,
    });

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'm2-bk-tls-'));
      mkdirSync(join(dir, 'certs'));
      makeCerts(join(dir, 'certs'));
      addr = `tcp://127.0.0.1:${await freePort()}`;
      const log = openSync(join(dir, 'buildkitd.log'), 'a');
      daemon = spawn(
        BUILDKITD,
        [
          '--addr',
          addr,
          '--root',
          join(dir, 'root'),
          '--oci-worker-platform',
          'linux/amd64',
          '--tlscert',
          cert('server.pem'),
          '--tlskey',
          cert('server.key'),
          '--tlscacert',
          cert('ca.pem'),
        ],
        {
          stdio: ['ignore', log, log],
          env: { ...process.env, PATH: `${join(BUILDKITD, '..')}:${process.env['PATH'] ?? ''}` },
        },
      );
      // Up when it answers over mutual TLS (each attempt is bounded by the client's own timeout).
      const tls = buildkitTls(full());
      for (let attempt = 0; ; attempt++) {
        const c = await BuildkitClient.connect(addr, { timeoutMs: 2000, ...(tls ? { tls } : {}) }).catch(
          (e: unknown) => e,
        );
        if (c instanceof BuildkitClient) {
          c.close();
          break;
        }
        if (attempt > 60 || daemon.exitCode !== null)
          throw new Error(`buildkitd did not come up: ${readFileSync(join(dir, 'buildkitd.log'), 'utf8')}`, {
            cause: c,
          });
        await new Promise((r) => setTimeout(r, 250));
      }
    }, 120_000);

    afterAll(async () => {
      if (daemon && daemon.exitCode === null) {
        const gone = new Promise((r) => daemon?.once('exit', r));
        daemon.kill('SIGTERM');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    });

    const ns = `bktls${process.pid}x${Date.now().toString(36)}`;
    // The agent connects as agents do: with its arch's agent credentials.
    let access: NatsAccess = d.nats;
    beforeAll(async () => {
      access = await agentAccess(d.nats, ns, 'x86_64');
    });
    const agentArgs = (...tls: string[]) => [
      'agent',
      '--arch',
      'x86_64',
      '--repo',
      dir,
      ...natsArgs(access),
      '--namespace',
      ns,
      '--buildkit-addr',
      addr,
      ...tls,
    ];

    it('the agent command connects over mutual TLS with the flags, and stops on SIGINT', async () => {
      const running = runCli(
        agentArgs(
          '--buildkit-tlscacert',
          cert('ca.pem'),
          '--buildkit-tlscert',
          cert('client.pem'),
          '--buildkit-tlskey',
          cert('client.key'),
        ),
      );
      // runCli captures stderr; watch it through that capture for the agent's "ready" line.
      const captured = process.stderr.write;
      await new Promise<void>((resolve) => {
        process.stderr.write = ((s: string | Uint8Array) => {
          if (String(s).startsWith('agent for x86_64')) resolve();
          return captured.call(process.stderr, s);
        }) as typeof process.stderr.write;
      });
      process.emit('SIGINT');
      const r = await running;
      expect(r.err).toContain(`agent for x86_64 with 2 slot(s) on ${addr}`);
      expect(r.code).toBe(0);
    });

    it('without a client certificate the daemon refuses: exit 3, naming the address', async () => {
      const r = await runCli(agentArgs('--buildkit-tlscacert', cert('ca.pem')));
      expect(r.code).toBe(3);
      expect(r.err).toContain(addr);
    });
  },
);
