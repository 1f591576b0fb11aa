// Optional acceptance check against a real apk-tools binary: set APK_BIN (and APK_LD_LIBRARY_PATH
// when it is a shared build) to run it; skipped otherwise, since CI has no apk-tools.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Keyring, packageInfo, packApk, publishPackages, signingKeyFromPem } from '@melange2/apk';
import { buildEnvironment } from '@melange2/apk/internal';
import { testKey, tmp } from './helpers.js';

const APK = process.env['APK_BIN'];
const env = { ...process.env, LD_LIBRARY_PATH: process.env['APK_LD_LIBRARY_PATH'] ?? '' };
const apk = (args: string[]) => execFileSync(APK!, args, { env, encoding: 'utf8' });

describe.skipIf(!APK)(`real apk-tools (${APK ?? 'set APK_BIN to run'})`, () => {
  it('verifies, indexes and installs our packages; reads a root we installed', async () => {
    const kp = await testKey();
    const key = signingKeyFromPem(kp.privatePem, 'test.rsa.pub');
    const keys = tmp('keys-');
    writeFileSync(join(keys, 'test.rsa.pub'), kp.publicPem);
    const src = tmp('bb-');
    mkdirSync(join(src, 'bin'));
    copyFileSync('/bin/busybox', join(src, 'bin/busybox'));
    symlinkSync('busybox', join(src, 'bin/sh'));
    const out = join(tmp(), 'busybox-1.36.1-r0.apk');
    await packApk({
      dir: src,
      info: packageInfo({
        name: 'busybox',
        version: '1.36.1-r0',
        arch: 'x86_64',
        provides: ['cmd:sh=1.36.1-r0'],
      }),
      signingKey: key,
      output: out,
      scripts: { 'post-install': '#!/bin/sh\ntrue\n' },
    });
    const repo = tmp('repo-');
    await publishPackages({ repoDir: repo, arch: 'x86_64', apks: [out], signingKey: key });
    const idx = join(repo, 'x86_64', 'APKINDEX.tar.gz');
    expect(apk(['verify', '--keys-dir', keys, out, idx])).toMatch(/OK/);
    const root = join(tmp(), 'root');
    apk([
      'add',
      '--root',
      root,
      '--initdb',
      '--arch',
      'x86_64',
      '--keys-dir',
      keys,
      '--no-scripts',
      '--no-cache',
      '--repository',
      repo,
      'cmd:sh',
    ]);
    const ours = join(tmp(), 'ours');
    await buildEnvironment({
      repositories: [repo],
      keyring: new Keyring().add('test.rsa.pub', kp.publicPem),
      arch: 'x86_64',
      world: ['busybox'],
      cacheDir: tmp('cache-'),
      root: ours,
    });
    expect(apk(['--root', ours, 'info', '-vv'])).toContain('busybox-1.36.1-r0');
    apk(['--root', ours, 'audit']);
    apk(['--root', ours, '--no-scripts', '--no-cache', 'del', 'busybox']);
  });
});
