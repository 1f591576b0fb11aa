import { readFileSync, statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './cli-helpers-apk.js';

describe('melange2-orch keygen', () => {
  it('writes PKCS#1 private and SPKI public keys, never overwriting without --force', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keygen-'));
    const r = await runCli(['keygen', '--name', 'test', '--key-size', '2048', '--dir', dir]);
    expect(r.code).toBe(0);
    const priv = readFileSync(join(dir, 'test.rsa'), 'utf8');
    expect(priv).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(readFileSync(join(dir, 'test.rsa.pub'), 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(statSync(join(dir, 'test.rsa')).mode & 0o777).toBe(0o600);
    const again = await runCli(['keygen', '--name', 'test', '--key-size', '2048', '--dir', dir]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/test\.rsa already exists \(use --force to overwrite\)/);
    expect(readFileSync(join(dir, 'test.rsa'), 'utf8')).toBe(priv);
    const forced = await runCli(['keygen', '--name', 'test', '--key-size', '2048', '--dir', dir, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, 'test.rsa'), 'utf8')).not.toBe(priv);
  });
  it('rejects small keys as a usage error', async () => {
    const r = await runCli(['keygen', '--key-size', '1024', '--dir', tmpdir()]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--key-size: expected a whole number ≥ 2048, got "1024"/);
  });
});
