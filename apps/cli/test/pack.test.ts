import { copyFileSync, existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring, readApkData, verifyApk } from '@melange2/apk';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-helpers-apk.js';

const ARM64_BUSYBOX = join(import.meta.dirname, '../../../.tools/arm64/busybox');
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pack-cli-'));
  const r = await runCli(['keygen', '--name', 'melange', '--key-size', '2048', '--dir', dir]);
  expect(r.code).toBe(0);
});

function busyboxTree(binary: string): string {
  const root = mkdtempSync(join(tmpdir(), 'bb-root-'));
  mkdirSync(join(root, 'bin'));
  copyFileSync(binary, join(root, 'bin/busybox'));
  symlinkSync('busybox', join(root, 'bin/sh'));
  return root;
}

describe.each([
  ['x86_64', '/bin/busybox'],
  ['aarch64', ARM64_BUSYBOX],
])('melange2-orch pack: busybox bootstrap package (%s)', (arch, binary) => {
  it.skipIf(!existsSync(binary))(`packs ${binary} as a signed busybox providing cmd:sh`, async () => {
    const out = join(dir, `busybox-${arch}.apk`);
    const r = await runCli([
      'pack',
      busyboxTree(binary),
      '--name',
      'busybox',
      '--version',
      '1.36.1-r0',
      '--arch',
      arch,
      '--provides',
      'cmd:sh=1.36.1-r0',
      '--provides',
      'cmd:busybox=1.36.1-r0,/bin/sh',
      '--signing-key',
      join(dir, 'melange.rsa'),
      '--source-date-epoch',
      '1700000000',
      '-o',
      out,
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const v = await verifyApk(out, { keyring: Keyring.load([join(dir, 'melange.rsa.pub')]) });
    expect(v.signedBy).toBe('melange.rsa.pub');
    expect(v.head.info).toMatchObject({
      name: 'busybox',
      arch,
      provides: ['cmd:sh=1.36.1-r0', 'cmd:busybox=1.36.1-r0', '/bin/sh'],
    });
    expect(v.head.info.size).toBeGreaterThan(100_000);
    const names: string[] = [];
    await readApkData(v.head, async (e) => {
      names.push(`${e.type}:${e.name}`);
    });
    expect(names).toEqual(['directory:bin', 'file:bin/busybox', 'symlink:bin/sh']);
  });
});

describe('melange2-orch pack: bad input', () => {
  it('rejects a bad version as a usage error naming it', async () => {
    const r = await runCli([
      'pack',
      dir,
      '--name',
      'x',
      '--version',
      '1.0-rx',
      '--arch',
      'x86_64',
      '-o',
      join(dir, 'x.apk'),
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/version "1.0-rx" is not a valid apk version/);
  });
  it('rejects a missing directory', async () => {
    const r = await runCli([
      'pack',
      join(dir, 'nope'),
      '--name',
      'x',
      '--version',
      '1.0-r0',
      '--arch',
      'x86_64',
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/nope: not a directory/);
  });
});
