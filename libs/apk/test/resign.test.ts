import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ApkError,
  Keyring,
  packageInfo,
  packApk,
  resignApk,
  type SigningKey,
  signingKeyFromPem,
  verifyApk,
} from '@melange2/apk';
import { otherKey, testKey, tmp, tree } from './helpers.js';

let repoKey: SigningKey;
let agentKey: SigningKey;
let repoKeyring: Keyring;

beforeAll(async () => {
  const a = await testKey();
  const b = await otherKey();
  repoKey = signingKeyFromPem(a.privatePem, 'repo.rsa.pub');
  agentKey = signingKeyFromPem(b.privatePem, 'agent.rsa.pub');
  repoKeyring = new Keyring().add('repo.rsa.pub', a.publicPem);
});

async function pkg(signingKey?: SigningKey): Promise<string> {
  const dir = tree(tmp(), { 'usr/share/hello/hello': 'hello\n' });
  const out = join(tmp(), 'hello-1.0.0-r0.apk');
  await packApk({
    dir,
    info: packageInfo({ name: 'hello', version: '1.0.0-r0', arch: 'x86_64', description: 'hi' }),
    ...(signingKey ? { signingKey } : {}),
    sourceDateEpoch: 1700000000,
    output: out,
  });
  return out;
}

describe('resignApk', () => {
  it('replaces an agent-key signature with the repository key, keeping control and data byte for byte', async () => {
    const input = await pkg(agentKey);
    await expect(verifyApk(input, { keyring: repoKeyring })).rejects.toThrow(ApkError);
    const before = await verifyApk(input);
    const out = join(tmp(), 'signed.apk');
    const r = await resignApk(input, out, repoKey);
    const v = await verifyApk(out, { keyring: repoKeyring });
    expect(v.signedBy).toBe('repo.rsa.pub');
    expect(v.head.signatures.map((s) => s.keyName)).toEqual(['repo.rsa.pub']);
    expect(r.checksum).toBe(before.head.checksum);
    const a = readFileSync(input);
    const b = readFileSync(out);
    expect(b.subarray(v.head.dataOffset)).toEqual(a.subarray(before.head.dataOffset));
    // The same package signed again with the same key: the same bytes (a republish is a no-op).
    const again = join(tmp(), 'again.apk');
    await resignApk(input, again, repoKey);
    expect(readFileSync(again)).toEqual(b);
  });

  it('signs an unsigned package', async () => {
    const out = join(tmp(), 'signed.apk');
    await resignApk(await pkg(), out, repoKey);
    expect((await verifyApk(out, { keyring: repoKeyring })).signedBy).toBe('repo.rsa.pub');
  });

  it('refuses to sign a package whose data does not match its datahash', async () => {
    const input = await pkg(agentKey);
    const bytes = readFileSync(input);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 30) ^ 0xff, bytes.length - 30);
    writeFileSync(input, bytes);
    const out = join(tmp(), 'signed.apk');
    await expect(resignApk(input, out, repoKey)).rejects.toMatchObject({
      code: expect.stringMatching(/datahash-mismatch|bad-gzip/),
    });
  });
});
