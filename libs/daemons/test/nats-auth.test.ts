import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsAuthError, writeNatsSecurity } from '@melange2/daemons';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('writeNatsSecurity', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'm2-auth-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const agent = {
    name: 'agent-x86_64',
    permissions: { publish: ['m2.events'], subscribe: ['_INBOX.m2.agent-x86_64.>'] },
  };

  it('writes the CA, server certificate, seeds and auth.conf, each 0600; a role keeps its seed', async () => {
    const first = await writeNatsSecurity(dir, {
      roles: [{ name: 'coordinator' }, agent],
      hosts: ['127.0.0.1'],
    });
    for (const f of [
      first.authConf,
      first.tls.ca,
      first.tls.cert,
      first.tls.key,
      ...Object.values(first.seeds),
    ])
      expect((statSync(f).mode & 0o777).toString(8), f).toBe('600');
    const seed = readFileSync(first.seeds['agent-x86_64']!, 'utf8');
    expect(seed).toMatch(/^SU[A-Z2-7]+\n$/);
    expect(readFileSync(first.tls.cert, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(readFileSync(first.tls.key, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const conf = readFileSync(first.authConf, 'utf8');
    expect(conf).toMatch(/# coordinator\n\s+\{ nkey: "U[A-Z2-7]+" \}/);
    expect(conf).toContain('publish: { allow: ["m2.events"] }');
    expect(conf).toContain('subscribe: { allow: ["_INBOX.m2.agent-x86_64.>"] }');
    // Another role later: the first roles stay, with their seeds.
    const again = await writeNatsSecurity(dir, {
      roles: [{ ...agent, name: 'agent-aarch64' }],
      hosts: ['127.0.0.1'],
    });
    expect(Object.keys(again.seeds).sort()).toEqual(['agent-aarch64', 'agent-x86_64', 'coordinator']);
    expect(readFileSync(again.seeds['agent-x86_64']!, 'utf8')).toBe(seed);
  });

  it('a role name the config cannot hold is a NatsAuthError', async () => {
    await expect(
      writeNatsSecurity(dir, { roles: [{ name: 'a b' }], hosts: ['localhost'] }),
    ).rejects.toBeInstanceOf(NatsAuthError);
  });
});
