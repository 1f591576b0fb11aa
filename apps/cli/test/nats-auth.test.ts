/**
 * Connecting to a NATS server that requires credentials or client certificates: private
 * nats-servers on 127.0.0.1 (users, token, TLS with `verify: true`), reached the way the
 * coordinator and agent commands reach NATS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer, connect as connectTcp } from 'node:net';
import { freePort } from './test-ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError } from '../src/exit-codes.js';
import { type NatsFlags, natsConnect, natsPlan, redactSecrets, redactUrl } from '../src/flags/nats.js';
import { runCli } from './cli-helpers-apk.js';
import { usageMessage } from './usage-error.js';
import { hasOpenssl, makeCerts } from './tls-certs.js';

const NATS_SERVER = join(process.env['MELANGE2_TOOLS_DIR'] ?? '', 'bin', 'nats-server');
const PASSWORD = 'pw-Zq81-never-printed';
const TOKEN = 'tok-Yx52-never-printed';
const NKEY = nkeys.createUser();

const none: NatsFlags = {
  nats: undefined,
  natsCreds: undefined,
  natsNkey: undefined,
  natsUser: undefined,
  natsPassword: undefined,
  natsToken: undefined,
  natsTlsCa: undefined,
  natsTlsCert: undefined,
  natsTlsKey: undefined,
};

interface Server {
  readonly url: string;
  readonly proc: ChildProcess;
}

/** A nats-server with `config`, ready when it says so on stderr. */
async function startServer(dir: string, name: string, config: string): Promise<Server> {
  const port = await freePort();
  const conf = join(dir, `${name}.conf`);
  writeFileSync(conf, `listen: "127.0.0.1:${port}"\n${config}\n`);
  const proc = spawn(NATS_SERVER, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    proc.stderr?.on('data', (b: Buffer) => {
      log += String(b);
      if (log.includes('Server is ready')) resolve();
    });
    proc.once('exit', (c) => reject(new Error(`nats-server ${name} exited ${c}:\n${log}`)));
  });
  return { url: `nats://127.0.0.1:${port}`, proc };
}

/** Connects with `flags`, or fails the test. */
const ok = async (flags: NatsFlags) => {
  const nc = await natsConnect(natsPlan(flags, 'test'));
  await nc.flush();
  await nc.close();
};
/** The error connecting with `flags` gives. */
const refused = async (flags: NatsFlags): Promise<CliError> => {
  const e = await natsConnect(natsPlan(flags, 'test')).then(
    async (nc) => {
      await nc.close();
      throw new Error('connected');
    },
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(CliError);
  return e as CliError;
};

async function stopServer(s: Server): Promise<void> {
  const gone = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill();
  await gone;
}

// These commands run against private servers: the test run's NATS credentials (scripts/test
// exports the coordinator's, `daemons status` names them) must not leak into them.
const RUN_ENV = Object.keys(process.env).filter(
  (k) => ['NATS_TLS_CA', 'NATS_NKEY', 'NATS_CREDS'].includes(k) || k.startsWith('MELANGE2_AGENT_NATS_'),
);
const savedEnv = Object.fromEntries(RUN_ENV.map((k) => [k, process.env[k]]));
beforeAll(() => {
  for (const k of RUN_ENV) delete process.env[k];
});
afterAll(() => {
  for (const [k, v] of Object.entries(savedEnv)) if (v !== undefined) process.env[k] = v;
});

describe('redactUrl', () => {
  it('hides passwords and tokens in URLs, keeps the rest', () => {
    expect(redactUrl('nats://alice:s3cret@127.0.0.1:4222')).toBe('nats://alice:***@127.0.0.1:4222');
    expect(redactUrl('tls://tok@host:4222')).toBe('tls://***@host:4222');
    expect(redactUrl('nats://a:b@h1:1,nats://h2:2')).toBe('nats://a:***@h1:1,nats://h2:2');
    expect(redactUrl('nats://127.0.0.1:4222')).toBe('nats://127.0.0.1:4222');
  });
  it('redactSecrets hides every secret in free text', () => {
    expect(redactSecrets('bad pass abc and abcdef', ['abc', 'abcdef'])).toBe('bad pass *** and ***');
  });
});

describe('natsPlan: flags and files checked before connecting', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'm2-nats-plan-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const usage = usageMessage;

  it('a missing file is a usage error naming its flag', () => {
    for (const [k, flag] of [
      ['natsCreds', '--nats-creds'],
      ['natsNkey', '--nats-nkey'],
      ['natsTlsCa', '--nats-tls-ca'],
    ] as const) {
      const msg = usage(() => natsPlan({ ...none, nats: 'nats://127.0.0.1:1', [k]: join(dir, 'nope') }, 't'));
      expect(msg).toBe(`${flag}: ${join(dir, 'nope')}: no such file`);
    }
  });

  it('a file that is not what the flag expects is named, without its content', () => {
    const seed = join(dir, 'seed');
    writeFileSync(seed, 'not-a-seed-secret\n');
    const msg = usage(() => natsPlan({ ...none, nats: 'nats://127.0.0.1:1', natsNkey: seed }, 't'));
    expect(msg).toContain('--nats-nkey');
    expect(msg).not.toContain('not-a-seed-secret');
    expect(usage(() => natsPlan({ ...none, nats: 'nats://h:1', natsTlsCert: seed }, 't'))).toBe(
      '--nats-tls-cert: needs --nats-tls-key',
    );
  });

  it('user:pass in the URL become credentials, the server list has none', () => {
    const p = natsPlan({ ...none, nats: `nats://alice:${PASSWORD}@127.0.0.1:4222` }, 't');
    expect(p.options).toMatchObject({ servers: ['nats://127.0.0.1:4222'], user: 'alice', pass: PASSWORD });
    expect(p.shown).toBe('nats://alice:***@127.0.0.1:4222');
    const t = natsPlan({ ...none, nats: `nats://${TOKEN}@127.0.0.1:4222` }, 't');
    expect(t.options).toMatchObject({ servers: ['nats://127.0.0.1:4222'], token: TOKEN });
  });
});

describe.skipIf(!existsSync(NATS_SERVER))('connecting to a nats-server that requires credentials', () => {
  let dir = '';
  const servers: Server[] = [];
  let users: Server;
  let token: Server;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'm2-nats-auth-'));
    users = await startServer(
      dir,
      'users',
      `jetstream { store_dir: "${join(dir, 'js')}" }\nauthorization { users = [ { user: alice, password: "${PASSWORD}" }, { nkey: "${NKEY.getPublicKey()}" } ] }`,
    );
    servers.push(users);
    token = await startServer(dir, 'token', `authorization { token: "${TOKEN}" }`);
    servers.push(token);
  });
  afterAll(async () => {
    for (const s of servers) await stopServer(s);
    rmSync(dir, { recursive: true, force: true });
  });

  /** The agent command against the users server (it stops at connecting, or before). */
  const agent = (...args: string[]) =>
    runCli(['agent', '--arch', 'x86_64', '--repo', dir, '--nats', users.url, ...args]);

  it('user and password as flags, and in the URL', async () => {
    await ok({ ...none, nats: users.url, natsUser: 'alice', natsPassword: PASSWORD });
    await ok({ ...none, nats: users.url.replace('//', `//alice:${PASSWORD}@`) });
  });

  it('a refusal of the right credentials (a server reloading its users) is tried again', async () => {
    // In front of the users server: the first CONNECT gets what nats-server answers a client that
    // connects while it reloads its authorization; everything else goes through.
    let connects = 0;
    const front = createServer((sock) => {
      const up = connectTcp(Number(new URL(users.url).port), '127.0.0.1');
      up.pipe(sock);
      sock.on('data', (b: Buffer) => {
        if (b.toString('latin1').startsWith('CONNECT') && ++connects === 1) {
          up.destroy();
          sock.end("-ERR 'Authorization Violation'\r\n");
        } else up.write(b);
      });
      sock.on('error', () => up.destroy());
      up.on('error', () => sock.destroy());
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    try {
      const url = `nats://127.0.0.1:${(front.address() as AddressInfo).port}`;
      await ok({ ...none, nats: url, natsUser: 'alice', natsPassword: PASSWORD });
      expect(connects).toBe(2);
    } finally {
      await new Promise((r) => front.close(r));
    }
  });

  it('a wrong password is refused by name (exit 3), the password never shown', async () => {
    const url = users.url.replace('//', '//alice:wrong-pw-77@');
    const e = await refused({ ...none, nats: url });
    expect(e.exitCode).toBe(3);
    expect(e.message).toMatch(/^NATS refused the credentials for nats:\/\/alice:\*\*\*@127\.0\.0\.1:\d+: /);
    expect(e.message).not.toContain('wrong-pw-77');
    expect(String((e.cause as Error).message)).not.toContain('wrong-pw-77');
    const none2 = await refused({ ...none, nats: users.url });
    expect(none2.message).toContain('NATS refused the credentials');
  });

  it('an nkey seed file', async () => {
    const seed = join(dir, 'user.nk');
    writeFileSync(seed, `${new TextDecoder().decode(NKEY.getSeed())}\n`, { mode: 0o600 });
    await ok({ ...none, nats: users.url, natsNkey: seed });
    const other = join(dir, 'other.nk');
    writeFileSync(other, new TextDecoder().decode(nkeys.createUser().getSeed()), { mode: 0o600 });
    const e = await refused({ ...none, nats: users.url, natsNkey: other });
    expect(e.message).toContain('NATS refused the credentials');
  });

  it('a token as a flag and in the URL', async () => {
    await ok({ ...none, nats: token.url, natsToken: TOKEN });
    await ok({ ...none, nats: token.url.replace('//', `//${TOKEN}@`) });
    const e = await refused({ ...none, nats: token.url, natsToken: 'bad-token-31' });
    expect(e.message).toContain('NATS refused the credentials');
    expect(e.message).not.toContain('bad-token-31');
  });

  it('the agent command: a wrong password exits 3, named, with the password absent from its output', async () => {
    const r = await agent(
      '--buildkit-addr',
      'tcp://127.0.0.1:1',
      '--nats-user',
      'alice',
      '--nats-password',
      'cli-wrong-pw-12',
    );
    expect(r.code).toBe(3);
    expect(r.err).toContain(`NATS refused the credentials for ${users.url}`);
    expect(r.out + r.err).not.toContain('cli-wrong-pw-12');
  });

  it('the agent command takes the credentials from $NATS_USER and $NATS_PASSWORD', async () => {
    const before = { user: process.env['NATS_USER'], password: process.env['NATS_PASSWORD'] };
    process.env['NATS_USER'] = 'alice';
    process.env['NATS_PASSWORD'] = PASSWORD;
    try {
      // NATS lets it in; it then stops at the buildkitd that is not there.
      const r = await agent('--buildkit-addr', 'tcp://127.0.0.1:1');
      expect(r.code).toBe(3);
      expect(r.err).toContain('buildkitd at tcp://127.0.0.1:1');
      expect(r.err).not.toContain('NATS');
      expect(r.out + r.err).not.toContain(PASSWORD);
    } finally {
      for (const [k, v] of [
        ['NATS_USER', before.user],
        ['NATS_PASSWORD', before.password],
      ] as const)
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
  });

  it('a missing credentials file is a usage error (exit 2) naming the flag, before connecting', async () => {
    const r = await agent('--nats-creds', join(dir, 'nope.creds'));
    expect(r.code).toBe(2);
    expect(r.err).toContain(`--nats-creds: ${join(dir, 'nope.creds')}: no such file`);
  });
});

describe.skipIf(!existsSync(NATS_SERVER) || !hasOpenssl())('NATS over TLS with client certificates', () => {
  let dir = '';
  let tls: Server | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'm2-nats-tls-'));
    makeCerts(dir);
    tls = await startServer(
      dir,
      'tls',
      `tls { cert_file: "${join(dir, 'server.pem')}", key_file: "${join(dir, 'server.key')}", ca_file: "${join(dir, 'ca.pem')}", verify: true }`,
    );
  });
  afterAll(async () => {
    if (tls) await stopServer(tls);
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects with the CA and a client certificate', async () => {
    await ok({
      ...none,
      nats: tls!.url,
      natsTlsCa: join(dir, 'ca.pem'),
      natsTlsCert: join(dir, 'client.pem'),
      natsTlsKey: join(dir, 'client.key'),
    });
  });

  it('without a client certificate it is refused with a clear message, not a timeout', async () => {
    const e = await refused({ ...none, nats: tls!.url, natsTlsCa: join(dir, 'ca.pem') });
    expect(e.exitCode).toBe(3);
    expect(e.message).toBe(
      `NATS at ${tls!.url} requires a client certificate: give --nats-tls-cert and --nats-tls-key (and --nats-tls-ca for a private CA)`,
    );
  });
});
