import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readIndexFile } from '@melange2/apk';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-helpers-apk.js';

let dir: string;
const apk = (n: string) => join(dir, `${n}-1.0-r0.apk`);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'index-cli-'));
  for (const k of ['melange', 'other']) {
    expect((await runCli(['keygen', '--name', k, '--key-size', '2048', '--dir', dir])).code).toBe(0);
  }
  for (const n of ['a', 'b', 'c']) {
    const src = join(dir, `src-${n}`);
    mkdirSync(join(src, 'usr/share'), { recursive: true });
    writeFileSync(join(src, 'usr/share', n), n);
    const r = await runCli([
      'pack',
      src,
      '--name',
      n,
      '--version',
      '1.0-r0',
      '--arch',
      'x86_64',
      '--signing-key',
      join(dir, 'melange.rsa'),
      '-o',
      apk(n),
    ]);
    expect(r.code).toBe(0);
  }
});

describe('melange2-orch index / sign-index / verify', () => {
  it('indexes, merges, verifies and re-signs', async () => {
    const idx = join(dir, 'APKINDEX.tar.gz');
    const key = join(dir, 'melange.rsa');
    const pub = join(dir, 'melange.rsa.pub');
    let r = await runCli([
      'index',
      '-o',
      idx,
      '--signing-key',
      key,
      '--description',
      'test',
      apk('a'),
      apk('b'),
    ]);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/2 packages, signed/);
    r = await runCli([
      'index',
      '-o',
      idx,
      '--merge',
      '--keyring-append',
      pub,
      '--signing-key',
      key,
      apk('c'),
    ]);
    expect(r.code).toBe(0);
    expect(readIndexFile(idx).index.entries.map((e) => e.name)).toEqual(['a', 'b', 'c']);
    r = await runCli(['verify', '--keyring-append', pub, idx, apk('a')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`${idx}: OK (index of 3 packages, signed by melange.rsa.pub)`);
    expect(r.out).toContain(`${apk('a')}: OK (a-1.0-r0, signed by melange.rsa.pub)`);

    r = await runCli(['verify', '--keyring-append', join(dir, 'other.rsa.pub'), idx]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/UNTRUSTED signature: signed by melange.rsa.pub/);

    r = await runCli(['sign-index', idx]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--signing-key is required/);
    r = await runCli(['sign-index', '--signing-key', join(dir, 'other.rsa'), '--signing-key', key, idx]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('signed with other.rsa.pub, melange.rsa.pub');
    r = await runCli(['verify', '--keyring-append', pub, idx]);
    expect(r.code).toBe(0);
    r = await runCli(['verify', '--keyring-append', join(dir, 'other.rsa.pub'), idx]);
    expect(r.code).toBe(0);
  });
  it('fails with the reason for a tampered package', async () => {
    const bad = join(dir, 'bad.apk');
    const buf = readFileSync(apk('b'));
    buf[buf.length - 30]! ^= 0x55;
    writeFileSync(bad, buf);
    const r = await runCli(['verify', '--keyring-append', join(dir, 'melange.rsa.pub'), bad, apk('a')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.apk: FAILED: .*does not match datahash/);
    expect(r.out).toContain('a-1.0-r0');
  });
  it('fails a package whose signature member inflates past its limit, naming the limit', async () => {
    // 1 MiB of zeros behind a signature name: 1 KiB compressed, over the 64 KiB signature limit.
    const bomb = join(dir, 'bomb.apk');
    const sig = gzipSync(Buffer.concat([Buffer.from('.SIGN.RSA256.melange.rsa.pub'), Buffer.alloc(1 << 20)]));
    writeFileSync(bomb, Buffer.concat([sig, readFileSync(apk('a'))]));
    const r = await runCli(['verify', '--keyring-append', join(dir, 'melange.rsa.pub'), bomb]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /bomb\.apk: FAILED: .*signature member: over the 64 KiB limit .*\(limit-signature\)/,
    );
  });
  it('reports a missing key as a usage error', async () => {
    const r = await runCli(['verify', '--keyring-append', join(dir, 'nope.pub'), apk('a')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/nope.pub does not exist/);
  });
});
