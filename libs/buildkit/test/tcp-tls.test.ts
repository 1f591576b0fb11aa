import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BuildkitClient, ConnectError, llb, marshal, type TlsOptions } from '@melange2/buildkit';
import { tempDir } from './helpers.js';

// The shared daemons listen on unix sockets only; this file starts two private ones on
// 127.0.0.1: plain TCP and TCP with mutual TLS (certificates made here with openssl).
const toolsDir =
  process.env['MELANGE2_TOOLS_DIR'] ?? fileURLToPath(new URL('../../../.tools', import.meta.url));
const buildkitd = join(toolsDir, 'bin', 'buildkitd');
const haveTools = existsSync(buildkitd) && existsSync('/usr/bin/openssl');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function makeCerts(dir: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=m2-test-ca',
  ]);
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    openssl(dir, [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${name}`,
    ]);
    execFileSync('sh', ['-c', `printf '${ext}\\n' > ${name}.ext`], { cwd: dir });
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    ]);
  }
}

const started: ChildProcess[] = [];

async function startDaemon(dir: string, port: number, tlsDir?: string): Promise<void> {
  const args = [
    '--addr',
    `tcp://127.0.0.1:${port}`,
    '--root',
    join(dir, 'root'),
    '--oci-worker-platform',
    'linux/amd64',
    '--oci-worker-net',
    'host',
  ];
  if (tlsDir)
    args.push(
      '--tlscert',
      join(tlsDir, 'server.pem'),
      '--tlskey',
      join(tlsDir, 'server.key'),
      '--tlscacert',
      join(tlsDir, 'ca.pem'),
    );
  const log = openSync(join(dir, 'buildkitd.log'), 'a');
  const child = spawn(buildkitd, args, {
    stdio: ['ignore', log, log],
    env: { ...process.env, PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${process.env['PATH'] ?? ''}` },
  });
  started.push(child);
}

async function connectWhenUp(addr: string, tls?: TlsOptions): Promise<BuildkitClient> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await BuildkitClient.connect(addr, { timeoutMs: 3000, ...(tls ? { tls } : {}) });
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

describe.skipIf(!haveTools)('tcp:// and tcp:// with mTLS (private daemons)', () => {
  let plainAddr = '';
  let tlsAddr = '';
  let tls: TlsOptions = {};

  beforeAll(async () => {
    const [plainDir, tlsDir, certDir] = await Promise.all([tempDir('tcp'), tempDir('tls'), tempDir('certs')]);
    makeCerts(certDir);
    tls = {
      ca: join(certDir, 'ca.pem'),
      cert: join(certDir, 'client.pem'),
      key: join(certDir, 'client.key'),
    };
    const [p1, p2] = [await freePort(), await freePort()];
    plainAddr = `tcp://127.0.0.1:${p1}`;
    tlsAddr = `tcp://127.0.0.1:${p2}`;
    await startDaemon(plainDir, p1);
    await startDaemon(tlsDir, p2, certDir);
  });

  afterAll(async () => {
    for (const c of started) {
      if (c.exitCode !== null) continue;
      c.kill('SIGTERM');
      await new Promise((r) => {
        const t = setTimeout(() => {
          c.kill('SIGKILL');
          r(undefined);
        }, 5000);
        c.once('exit', () => {
          clearTimeout(t);
          r(undefined);
        });
      });
    }
  });

  async function solveTiny(client: BuildkitClient): Promise<Buffer> {
    const chunks: Buffer[] = [];
    const stream = new PassThrough();
    stream.on('data', (b: Buffer) => chunks.push(b));
    await client.solve(marshal(llb.scratch().file(llb.mkfile('/hello', 0o644, 'over tcp'))), {
      exports: [{ type: 'tar', stream }],
    });
    return Buffer.concat(chunks);
  }

  it('connects over plain tcp:// and runs a solve with a session', async () => {
    const c = await connectWhenUp(plainAddr);
    try {
      expect((await c.info()).version).toMatch(/^v0\./);
      expect((await solveTiny(c)).includes(Buffer.from('over tcp'))).toBe(true);
    } finally {
      c.close();
    }
  });

  it('connects over tcp:// with mutual TLS, and refuses without a client certificate', async () => {
    const c = await connectWhenUp(tlsAddr, tls);
    try {
      expect((await c.listWorkers())[0]?.platforms[0]?.architecture).toBe('amd64');
      expect((await solveTiny(c)).includes(Buffer.from('over tcp'))).toBe(true);
    } finally {
      c.close();
    }
    const plain = await BuildkitClient.connect(tlsAddr, { timeoutMs: 1500 }).catch((e: unknown) => e);
    expect(plain).toBeInstanceOf(ConnectError);
    expect((plain as Error).message).toContain(tlsAddr);
    const noCert = await BuildkitClient.connect(tlsAddr, { timeoutMs: 1500, tls: { ca: tls.ca } }).catch(
      (e: unknown) => e,
    );
    expect(noCert).toBeInstanceOf(ConnectError);
  });
});
