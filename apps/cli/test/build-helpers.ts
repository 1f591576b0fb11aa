import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import { runCli } from './cli-helpers-apk.js';

export const TESTDATA = join(import.meta.dirname, '..', '..', '..', 'testdata', 'engine-build');
const ARM64_BUSYBOX = join(import.meta.dirname, '..', '..', '..', '.tools', 'arm64', 'busybox');
const VERSION = '1.35.0-r0';

export interface CliBootstrap {
  readonly dir: string;
  readonly key: string;
  readonly pub: string;
  readonly repo: string;
}

/**
 * The bootstrap repository made with the CLI itself: `keygen`, then `pack` of Debian's static
 * busybox in the `busybox --install` layout (providing cmd:sh and every applet), then `index`.
 */
export async function cliBootstrap(arches: readonly ('x86_64' | 'aarch64')[]): Promise<CliBootstrap> {
  const dir = mkdtempSync(join(tmpdir(), 'm2-build-cli-'));
  expect((await runCli(['keygen', '--name', 'melange', '--key-size', '2048', '--dir', dir])).code).toBe(0);
  const key = join(dir, 'melange.rsa');
  const repo = join(dir, 'bootstrap');
  for (const arch of arches) {
    const bin = arch === 'x86_64' ? '/bin/busybox' : ARM64_BUSYBOX;
    if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/setup`);
    const tree = join(dir, `tree-${arch}`);
    mkdirSync(join(tree, 'bin'), { recursive: true });
    copyFileSync(bin, join(tree, 'bin', 'busybox'));
    const applets = execFileSync('/bin/busybox', ['--list-full'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l !== '' && !l.includes('['));
    for (const rel of applets) {
      mkdirSync(join(tree, dirname(rel)), { recursive: true });
      if (!existsSync(join(tree, rel))) symlinkSync('/bin/busybox', join(tree, rel));
    }
    const provides = [...new Set(applets.map((r) => r.slice(r.lastIndexOf('/') + 1)))].map(
      (n) => `cmd:${n}=${VERSION}`,
    );
    const apk = join(repo, arch, `busybox-${VERSION}.apk`);
    mkdirSync(dirname(apk), { recursive: true });
    const packed = await runCli([
      'pack',
      tree,
      '--name',
      'busybox',
      '--version',
      VERSION,
      '--arch',
      arch,
      '--provides',
      provides.join(','),
      '--signing-key',
      key,
      '--source-date-epoch',
      '0',
      '-o',
      apk,
    ]);
    expect(packed.err).toBe('');
    expect(packed.code).toBe(0);
    const indexed = await runCli([
      'index',
      apk,
      '-o',
      join(repo, arch, 'APKINDEX.tar.gz'),
      '--signing-key',
      key,
    ]);
    expect(indexed.code).toBe(0);
  }
  return { dir, key, pub: `${key}.pub`, repo };
}
