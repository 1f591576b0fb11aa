import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool, freePort } from '@melange2/daemons';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Manifest, parseManifests } from './manifests.ts';
import { KUBECTL, kustomize } from './render.ts';

/**
 * deploy/k8s's NATS, for real: the rendered nats.conf (its mount paths mapped into a temp dir, a
 * stand-in for the `nats-server-auth` Secret beside it) runs in the current nats-server, serves
 * JetStream on the probe's health path, takes TLS + the auth include, and the preStop hook's
 * lame-duck signal stops it.
 */
const NATS_SERVER = (() => {
  try {
    return findTool('nats-server');
  } catch {
    return undefined;
  }
})();

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function raw(ms: Manifest[], apiKind: string, name: string): Record<string, unknown> {
  for (const m of ms) {
    if (m.kind === 'other' && m.apiKind === apiKind && m.name === name) return m.raw;
    if (m.kind === apiKind && m.kind !== 'other' && m.metadata.name === name)
      return m as Record<string, unknown>;
  }
  throw new Error(`${apiKind}/${name} is not in the render`);
}

const PASSWORD = 'deploy-test-pw-5521';

describe.skipIf(!KUBECTL || !NATS_SERVER || !hasOpenssl())(
  'deploy/k8s NATS config in a real nats-server',
  () => {
    let dir = '';
    let proc: ChildProcess | undefined;
    let port = 0;
    let monitor = 0;
    let probePath = '';
    let preStop: string[] = [];
    let log = '';

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'nats-k8s-'));
      const ms = parseManifests(kustomize(KUBECTL ?? '', 'mixed'));
      const cm = raw(ms, 'ConfigMap', 'nats-config') as { data: Record<string, string> };
      const sts = raw(ms, 'StatefulSet', 'nats') as {
        spec: { template: { spec: { containers: Array<Record<string, unknown>> } } };
      };
      const c = sts.spec.template.spec.containers[0] as {
        readinessProbe: { httpGet: { path: string } };
        lifecycle: { preStop: { exec: { command: string[] } } };
      };
      probePath = c.readinessProbe.httpGet.path;
      const map = (s: string) =>
        s
          .replaceAll('/etc/nats/conf/', `${dir}/conf/`)
          .replaceAll('/var/run/nats/', `${dir}/run/`)
          .replace(/store_dir: \/data\b/, `store_dir: "${dir}/data"`);
      preStop = c.lifecycle.preStop.exec.command.map(map);
      for (const d of ['conf', 'run', 'data']) mkdirSync(join(dir, d));
      const conf = join(dir, 'conf');
      writeFileSync(join(conf, 'nats.conf'), map(cm.data['nats.conf'] ?? ''));
      writeFileSync(
        join(conf, 'auth.conf'),
        `authorization { users = [ { user: agent, password: "${PASSWORD}" } ] }\n`,
      );
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      execFileSync(
        'openssl',
        ['req', '-x509', ...ec, '-keyout', 'server-key.pem', '-out', 'server-cert.pem', '-days', '1'].concat([
          '-subj',
          '/CN=nats',
          '-addext',
          'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:nats',
        ]),
        { cwd: conf, stdio: 'ignore' },
      );
      copyFileSync(join(conf, 'server-cert.pem'), join(conf, 'ca.pem')); // self-signed: its own CA
      port = await freePort('127.0.0.1');
      monitor = await freePort('127.0.0.1');
      // Flags override the config's ports: the test must not take 4222/8222 on a shared machine.
      proc = spawn(
        NATS_SERVER ?? '',
        ['-c', join(conf, 'nats.conf'), '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor)],
        { env: { ...process.env, POD_NAME: 'nats-0' }, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      await new Promise<void>((resolve, reject) => {
        proc?.stderr?.on('data', (b: Buffer) => {
          log += String(b);
          if (log.includes('Server is ready')) resolve();
        });
        proc?.once('exit', (code) => reject(new Error(`nats-server exited ${code}:\n${log}`)));
      });
    });

    afterAll(() => {
      if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    });

    it("passes the StatefulSet's readiness probe with JetStream on", async () => {
      expect(probePath).toContain('/healthz');
      const r = await fetch(`http://127.0.0.1:${monitor}${probePath}`);
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({ status: 'ok' });
      expect(log).toContain('Starting JetStream');
      expect(log).toContain('nats-0');
    });

    it('takes a client with the credentials of the auth include over TLS, and refuses one without', async () => {
      const ca = join(dir, 'conf', 'ca.pem');
      const servers = `nats://127.0.0.1:${port}`;
      const nc = await connect({ servers, user: 'agent', pass: PASSWORD, tls: { caFile: ca } });
      expect(nc.info?.tls_required).toBe(true);
      await nc.flush();
      await nc.close();
      await expect(connect({ servers, tls: { caFile: ca }, reconnect: false })).rejects.toThrow(
        /Authorization/i,
      );
    });

    it("stops on the preStop hook's lame-duck signal", async () => {
      expect(existsSync(join(dir, 'run', 'nats.pid'))).toBe(true);
      const exited = new Promise<void>((r) => proc?.once('exit', () => r()));
      execFileSync(preStop[0] === 'nats-server' ? (NATS_SERVER ?? '') : (preStop[0] ?? ''), preStop.slice(1));
      await exited;
      expect(log).toContain('Entering lame duck mode');
    }, 120_000);
  },
);
