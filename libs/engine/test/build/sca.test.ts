import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  accountFiles,
  analyzePackage,
  ElfError,
  elfSectionNames,
  parseElf,
  parsePcFile,
  shebangCommand,
  sonameVersion,
} from '@melange2/engine/internal';
import { EM_AARCH64, EM_X86_64, tinyElf } from './elf-fixture.js';

const dir = mkdtempSync(join(tmpdir(), 'm2-sca-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function readelfNeeded(file: string): { needed: string[]; soname?: string } {
  const out = execFileSync('readelf', ['-d', file], { encoding: 'utf8' });
  const needed = [...out.matchAll(/\(NEEDED\)\s+Shared library: \[(.+)\]/g)].map((m) => m[1]!);
  const soname = /\(SONAME\)\s+Library soname: \[(.+)\]/.exec(out)?.[1];
  return soname ? { needed, soname } : { needed };
}

describe('ELF reader', () => {
  const hasReadelf = (() => {
    try {
      execFileSync('readelf', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!hasReadelf)('reads NEEDED and SONAME of real host binaries as readelf does', () => {
    for (const f of ['/bin/ls', '/lib/x86_64-linux-gnu/libc.so.6']) {
      if (!existsSync(f)) continue;
      const info = parseElf(readFileSync(f), f);
      const want = readelfNeeded(f);
      expect(info.needed).toEqual(want.needed);
      expect(info.soname).toBe(want.soname);
      expect(info.class).toBe(64);
    }
  });

  it('a static executable has no dynamic section', () => {
    const info = parseElf(readFileSync('/bin/busybox'), '/bin/busybox');
    expect(info.dynamic).toBe(false);
    expect(info.needed).toEqual([]);
    expect(info.type).toBe(2);
  });

  it('reads the tiny fixtures for both machines', () => {
    const x = parseElf(tinyElf({ machine: EM_X86_64, soname: 'libx.so.2', needed: ['liby.so.1'] }), 'x');
    expect([x.machine, x.soname, x.needed]).toEqual([EM_X86_64, 'libx.so.2', ['liby.so.1']]);
    const a = parseElf(tinyElf({ machine: EM_AARCH64, needed: ['liba.so', 'libb.so.3'] }), 'a');
    expect([a.machine, a.soname, a.needed]).toEqual([EM_AARCH64, undefined, ['liba.so', 'libb.so.3']]);
  });

  it('lists section names, so debug info shows (and none without a section table)', () => {
    const debug = tinyElf({
      machine: EM_X86_64,
      soname: 'libd.so.1',
      sections: ['.text', '.debug_info', '.debug_line'],
    });
    expect(elfSectionNames(debug, 'libd.so.1')).toEqual([
      '',
      '.text',
      '.debug_info',
      '.debug_line',
      '.shstrtab',
    ]);
    expect(parseElf(debug, 'libd.so.1').soname).toBe('libd.so.1');
    expect(elfSectionNames(tinyElf({ machine: EM_X86_64 }), 'bare')).toEqual([]);
    const bad = Buffer.from(debug);
    bad.writeUInt16LE(200, 62);
    expect(() => elfSectionNames(bad, 'bad.so')).toThrow(/bad\.so: section name table index 200/);
  });

  it('rejects truncated or non-ELF input with the file name', () => {
    expect(() => parseElf(Buffer.from('#!/bin/sh\n'), 'script.sh')).toThrow(/script\.sh: not an ELF file/);
    const cut = tinyElf({ machine: EM_X86_64, soname: 'libx.so.1' }).subarray(0, 100);
    expect(() => parseElf(cut, 'cut.so')).toThrow(ElfError);
    expect(() => parseElf(cut, 'cut.so')).toThrow(
      expect.objectContaining({ code: 'ELF_INVALID', file: 'cut.so' }),
    );
  });
});

describe('SCA', () => {
  it('so:, so-ver:, cmd: and pc: as melange derives them', async () => {
    const p = join(dir, 'pkg');
    mkdirSync(join(p, 'usr/lib/pkgconfig'), { recursive: true });
    mkdirSync(join(p, 'usr/bin'), { recursive: true });
    writeFileSync(
      join(p, 'usr/lib/libown.so.3.1'),
      tinyElf({ machine: EM_X86_64, soname: 'libown.so.3', needed: ['libc.so.6'] }),
    );
    symlinkSync('libown.so.3.1', join(p, 'usr/lib/libown.so.3'));
    writeFileSync(
      join(p, 'usr/bin/tool'),
      tinyElf({ machine: EM_X86_64, type: 2, needed: ['libown.so.3', 'libz.so.1', 'libunversioned.so'] }),
    );
    chmodSync(join(p, 'usr/bin/tool'), 0o755);
    // Symlinks and files not executable by everyone are not commands.
    symlinkSync('tool', join(p, 'usr/bin/tool-alias'));
    writeFileSync(join(p, 'usr/bin/private'), 'data');
    chmodSync(join(p, 'usr/bin/private'), 0o700);
    // Scripts depend on their interpreter (sh is ignored: nothing provides it as a file).
    writeFileSync(join(p, 'usr/bin/script'), '#!/usr/bin/env -S perl -w\nprint 1;\n');
    writeFileSync(join(p, 'usr/bin/shell'), '#!/bin/sh\necho\n');
    chmodSync(join(p, 'usr/bin/script'), 0o755);
    chmodSync(join(p, 'usr/bin/shell'), 0o755);
    // A shared object outside the library dirs is vendored: it provides nothing.
    mkdirSync(join(p, 'usr/lib/plugins'), { recursive: true });
    writeFileSync(join(p, 'usr/lib/plugins/p.so'), tinyElf({ machine: EM_X86_64, soname: 'p.so.1' }));
    writeFileSync(
      join(p, 'usr/lib/pkgconfig/own.pc'),
      'prefix=/usr\nv=2.4\nName: own\nVersion: ${v}.1\nRequires: zlib >= 1.2, other\nRequires.private: ssl\n',
    );
    const r = await analyzePackage(p, { version: '3.1-r0' });
    expect(r.provides).toEqual([
      'cmd:script=3.1-r0',
      'cmd:shell=3.1-r0',
      'cmd:tool=3.1-r0',
      'pc:own=3.1-r0',
      'so-ver:libown.so.3=3.1-r0',
      'so:libown.so.3=3',
    ]);
    expect(r.depends).toEqual(['cmd:perl', 'pc:other', 'pc:ssl', 'pc:zlib', 'so:libc.so.6', 'so:libz.so.1']);
    const none = await analyzePackage(p, {
      version: '3.1-r0',
      options: { 'no-provides': true, 'no-depends': true },
    });
    expect([none.provides, none.depends]).toEqual([[], []]);
    const noCmd = await analyzePackage(p, { version: '3.1-r0', options: { 'no-commands': true } });
    expect(noCmd.provides.some((x) => x.startsWith('cmd:'))).toBe(false);
  });

  it('a -dev package whose libfoo.so links into the library package depends on its SONAME', async () => {
    const lib = join(dir, 'out', 'libfoo');
    const dev = join(dir, 'out', 'libfoo-dev');
    mkdirSync(join(lib, 'usr/lib'), { recursive: true });
    mkdirSync(join(dev, 'usr/lib'), { recursive: true });
    writeFileSync(
      join(lib, 'usr/lib/libfoo.so.2.0.1'),
      tinyElf({ machine: EM_AARCH64, soname: 'libfoo.so.2' }),
    );
    symlinkSync('libfoo.so.2.0.1', join(dev, 'usr/lib/libfoo.so'));
    const r = await analyzePackage(dev, { version: '2.0.1-r0', relatives: [lib] });
    expect(r.depends).toEqual(['so:libfoo.so.2']);
    expect(r.provides).toEqual([]);
  });

  it('libX.so -> libX.so.N -> libX.so.N.M (cmake/meson layout): the chain is followed to the SONAME', async () => {
    const lib = join(dir, 'chain', 'liblz4');
    const dev = join(dir, 'chain', 'liblz4-dev');
    mkdirSync(join(lib, 'usr/lib'), { recursive: true });
    mkdirSync(join(dev, 'usr/lib'), { recursive: true });
    writeFileSync(
      join(lib, 'usr/lib/liblz4.so.1.9.4'),
      tinyElf({ machine: EM_X86_64, soname: 'liblz4.so.1' }),
    );
    symlinkSync('liblz4.so.1.9.4', join(lib, 'usr/lib/liblz4.so.1'));
    symlinkSync('liblz4.so.1', join(dev, 'usr/lib/liblz4.so'));
    expect((await analyzePackage(dev, { version: '1.9.4-r0', relatives: [lib] })).depends).toEqual([
      'so:liblz4.so.1',
    ]);
    // An absolute link is followed inside the package root.
    const abs = join(dir, 'chain', 'abs-dev');
    mkdirSync(join(abs, 'usr/lib'), { recursive: true });
    symlinkSync('/usr/lib/liblz4.so.1', join(abs, 'usr/lib/liblz4.so'));
    expect((await analyzePackage(abs, { version: '1-r0', relatives: [lib] })).depends).toEqual([
      'so:liblz4.so.1',
    ]);
    // A loop, or a link out of the root, gives no dependency (and no hang).
    const loop = join(dir, 'chain', 'loop');
    mkdirSync(join(loop, 'usr/lib'), { recursive: true });
    symlinkSync('libloop.so.1', join(loop, 'usr/lib/libloop.so'));
    symlinkSync('libloop.so', join(loop, 'usr/lib/libloop.so.1'));
    symlinkSync('../../../../../../etc/passwd.so.1', join(loop, 'usr/lib/libout.so'));
    expect((await analyzePackage(loop, { version: '1-r0' })).depends).toEqual([]);
  });

  it('an executable depends on its interpreter (musl as libc.musl)', async () => {
    const p = join(dir, 'interp');
    mkdirSync(join(p, 'usr/bin'), { recursive: true });
    // The tiny fixture has no PT_INTERP; a real dynamic executable of the host has one.
    copyFileSync('/bin/ls', join(p, 'usr/bin/ls'));
    const r = await analyzePackage(p, { version: '1-r0' });
    expect(r.depends).toContain('so:ld-linux-x86-64.so.2');
    expect(r.depends).toContain('so:libc.so.6');
    expect(r.provides).toEqual(['cmd:ls=1-r0']);
  });

  it('a real shared library copied into a package', async () => {
    const lib = '/usr/lib/x86_64-linux-gnu/libz.so.1.2.13';
    if (!existsSync(lib)) return;
    const p = join(dir, 'zlib');
    mkdirSync(join(p, 'usr/lib'), { recursive: true });
    copyFileSync(lib, join(p, 'usr/lib/libz.so.1.2.13'));
    const r = await analyzePackage(p, { version: '1.2.13-r0' });
    expect(r.provides).toEqual(['so-ver:libz.so.1=1.2.13-r0', 'so:libz.so.1=1']);
    expect(r.depends).toEqual(['so:libc.so.6']);
  });

  it('soname versions, shebangs and pc files', () => {
    expect(sonameVersion('libfoo.so.1.2')).toBe('1.2');
    expect(sonameVersion('libfoo.so')).toBe('0');
    expect(sonameVersion('libfoo.so.1a')).toBe('0');
    expect(shebangCommand(Buffer.from('#!/usr/bin/python3\n'))).toBeUndefined();
    expect(shebangCommand(Buffer.from('#! /usr/bin/bash -e\n'))).toBe('bash');
    expect(shebangCommand(Buffer.from('#!/usr/bin/env node\n'))).toBe('node');
    expect(shebangCommand(Buffer.from('#!/usr/bin/env -i a b\n'))).toBeUndefined();
    expect(shebangCommand(Buffer.from('\x7fELF'))).toBeUndefined();
    expect(parsePcFile('Requires: a, b >= 1 c\n')).toEqual({ requires: ['a', 'b', 'c'] });
  });
});

describe('accounts', () => {
  it('adds root and the build user (uid 1000, /home/build) and the config accounts', () => {
    const { passwd, group } = accountFiles(
      [],
      [{ username: 'svc', uid: 500 }],
      [{ groupname: 'svc', gid: 500 }],
    );
    expect(passwd.split('\n')).toEqual([
      'root:x:0:0:root:/root:/bin/sh',
      'build:x:1000:1000:build:/home/build:/bin/sh',
      'svc:x:500:500:svc:/home/svc:/bin/sh',
      '',
    ]);
    expect(group).toContain('build:x:1000:build');
    expect(group).toContain('svc:x:500:');
  });
});
