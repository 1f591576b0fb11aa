import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-helpers-apk.js';

let dir: string;
let repo: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'resolve-cli-'));
  repo = join(dir, 'repo');
  expect((await runCli(['keygen', '--name', 'melange', '--key-size', '2048', '--dir', dir])).code).toBe(0);
  const mk = async (name: string, version: string, extra: string[] = []) => {
    const src = join(dir, `src-${name}-${version}`);
    mkdirSync(join(src, 'usr/share'), { recursive: true });
    writeFileSync(join(src, 'usr/share', name), name);
    const out = join(repo, 'x86_64', `${name}-${version}.apk`);
    const r = await runCli([
      'pack',
      src,
      '--name',
      name,
      '--version',
      version,
      '--arch',
      'x86_64',
      ...extra,
      '--signing-key',
      join(dir, 'melange.rsa'),
      '-o',
      out,
    ]);
    expect(r.code).toBe(0);
    return out;
  };
  const apks = [
    await mk('busybox', '1.36.1-r0', ['--provides', 'cmd:sh=1.36.1-r0']),
    await mk('gcc', '14.2.0-r3', ['--depends', 'cmd:sh']),
    await mk('build-base', '1-r0', ['--depends', 'gcc>=15']),
    await mk('make', '4.4-r0', ['--depends', 'cmd:sh']),
  ];
  const r = await runCli([
    'index',
    '-o',
    join(repo, 'x86_64', 'APKINDEX.tar.gz'),
    '--signing-key',
    join(dir, 'melange.rsa'),
    ...apks,
  ]);
  expect(r.code).toBe(0);
});

describe('melange2-orch resolve', () => {
  it('prints the install set, dependencies first', async () => {
    const r = await runCli([
      'resolve',
      '--repository-append',
      repo,
      '--keyring-append',
      join(dir, 'melange.rsa.pub'),
      '--arch',
      'x86_64',
      'make',
      'gcc',
    ]);
    expect(r.err).toBe('');
    expect(
      r.out
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[0]),
    ).toEqual(['busybox-1.36.1-r0', 'gcc-14.2.0-r3', 'make-4.4-r0']);
    const j = await runCli([
      'resolve',
      '--repository-append',
      repo,
      '--keyring-append',
      join(dir, 'melange.rsa.pub'),
      '--arch',
      'x86_64',
      '--json',
      'make',
    ]);
    expect(JSON.parse(j.out).map((p: { name: string }) => p.name)).toEqual(['busybox', 'make']);
  });
  it('names the chain when the world cannot be satisfied', async () => {
    const r = await runCli([
      'resolve',
      '--repository-append',
      repo,
      '--keyring-append',
      join(dir, 'melange.rsa.pub'),
      '--arch',
      'x86_64',
      'build-base',
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`build-base → gcc>=15: only gcc 14.2.0-r3 in ${repo}`);
  });
  it('refuses an index signed by an unknown key', async () => {
    const other = mkdtempSync(join(tmpdir(), 'k-'));
    await runCli(['keygen', '--name', 'other', '--key-size', '2048', '--dir', other]);
    const r = await runCli([
      'resolve',
      '--repository-append',
      repo,
      '--keyring-append',
      join(other, 'other.rsa.pub'),
      '--arch',
      'x86_64',
      'make',
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/UNTRUSTED signature/);
  });
});
