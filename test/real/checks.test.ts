import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { packApk } from '@melange2/apk';
import { afterAll, describe, expect, it } from 'vitest';
import { type PackageContents, readPackage } from './src/apk-contents.js';
import { checkOrigin, checkPackage, type Finding } from './src/checks.js';
import { checkFreshDeps, environmentNames } from './src/fresh-deps.js';
import { syntheticElf } from './elf-fixture.js';

const work = await mkdtemp(join(tmpdir(), 'real-checks-'));
afterAll(() => rm(work, { recursive: true, force: true }));

type Tree = Record<string, Buffer | string | { link: string }>;
let seq = 0;

/** Packs a tree into an .apk with the given provides/depends and reads it back as the checks see it. */
async function pkg(name: string, tree: Tree, meta: { provides?: string[]; depends?: string[] } = {}) {
  const dir = join(work, `t${seq++}`);
  await mkdir(dir);
  for (const [path, v] of Object.entries(tree)) {
    const abs = join(dir, path);
    await mkdir(dirname(abs), { recursive: true });
    if (typeof v === 'object' && 'link' in v) await symlink(v.link, abs);
    else await writeFile(abs, v, { mode: path.includes('/bin/') ? 0o755 : 0o644 });
  }
  const output = join(work, `${name}-${seq}.apk`);
  await packApk({
    dir,
    output,
    info: {
      name,
      version: '1.0-r0',
      arch: 'x86_64',
      size: 0,
      origin: 'libfoo',
      depends: meta.depends ?? [],
      provides: meta.provides ?? [],
      replaces: [],
      installIf: [],
      triggers: [],
    },
  });
  return readPackage(output);
}

const lib = syntheticElf({
  type: 'dyn',
  soname: 'libfoo.so.1',
  needed: ['libc.so.6'],
  sections: ['.text', '.dynamic'],
});
const exe = (sections: string[] = ['.text']) =>
  syntheticElf({
    type: 'exec',
    interpreter: '/lib64/ld-linux-x86-64.so.2',
    needed: ['libfoo.so.1', 'libc.so.6'],
    sections,
  });
const LIB_META = {
  provides: ['so:libfoo.so.1=1', 'cmd:foo=1.0-r0'],
  depends: ['so:libc.so.6', 'so:ld-linux-x86-64.so.2'],
};

const checks = (fs: readonly Finding[]) => fs.map((f) => `${f.package}:${f.check}`).sort();
const all = (pkgs: PackageContents[], strips = true) => [
  ...pkgs.flatMap((p) => checkPackage(p, { strips })),
  ...checkOrigin(pkgs),
];

describe('package checks', () => {
  it('reads SONAME, NEEDED, the interpreter and section names from a packed ELF', async () => {
    const p = await pkg('libfoo', { 'usr/bin/foo': exe(['.text', '.debug_info']) });
    const f = p.files.find((x) => x.path === 'usr/bin/foo')!;
    expect(f.elf?.info.interpreter).toBe('/lib64/ld-linux-x86-64.so.2');
    expect(f.elf?.info.needed).toEqual(['libfoo.so.1', 'libc.so.6']);
    expect(f.elf?.sections).toContain('.debug_info');
  });

  it('a well-split library passes every check', async () => {
    const main = await pkg(
      'libfoo',
      {
        'usr/lib/libfoo.so.1.2': lib,
        'usr/lib/libfoo.so.1': { link: 'libfoo.so.1.2' },
        'usr/bin/foo': exe(),
      },
      LIB_META,
    );
    const dev = await pkg(
      'libfoo-dev',
      {
        'usr/include/foo.h': 'int foo(void);\n',
        'usr/lib/libfoo.so': { link: 'libfoo.so.1' },
        'usr/lib/libfoo.a': '!<arch>\n',
        'usr/lib/pkgconfig/foo.pc': 'Name: foo\n',
      },
      { provides: ['pc:foo=1.0-r0'], depends: ['so:libfoo.so.1'] },
    );
    const doc = await pkg('libfoo-doc', { 'usr/share/man/man1/foo.1': '.TH FOO 1\n' });
    expect(checks(all([main, dev, doc]))).toEqual([]);
  });

  it('finds what melange would have done differently', async () => {
    const main = await pkg(
      'libfoo',
      {
        'usr/lib/libfoo.so.1.2': lib,
        'usr/lib/libfoo.so.1': { link: 'libfoo.so.1.2' },
        'usr/lib/libfoo.a': '!<arch>\n',
        'usr/bin/foo': exe(['.text', '.debug_info', '.debug_line']),
        'lib/extra.txt': 'outside /usr\n',
      },
      { depends: ['so:libc.so.6'] },
    );
    const dev = await pkg(
      'libfoo-dev',
      { 'usr/lib/libfoo.so': { link: 'libfoo.so.1' }, 'usr/share/pkgconfig/foo.pc': 'Name: foo\n' },
      {},
    );
    const doc = await pkg('libfoo-doc', { 'usr/share/locale/de/x.mo': 'x' });
    expect(checks(all([main, dev, doc]))).toEqual([
      'libfoo-dev:dev-symlink-depends',
      'libfoo-dev:pc-provides',
      'libfoo-doc:doc-contents',
      'libfoo:cmd-provides',
      'libfoo:paths',
      'libfoo:so-depends',
      'libfoo:so-depends',
      'libfoo:so-provides',
      'libfoo:static-split',
      'libfoo:stripped',
    ]);
    // Not stripped is a finding only when the config strips.
    expect(checks(all([main], false))).not.toContain('libfoo:stripped');
  });

  it('a -dev package needs headers or a .pc file, and the unversioned .so link', async () => {
    const main = await pkg('libfoo', { 'usr/lib/libfoo.so.1': lib }, LIB_META);
    const dev = await pkg('libfoo-dev', { 'usr/share/aclocal/foo.m4': 'dnl\n' });
    expect(checks(all([main, dev]))).toEqual(['libfoo-dev:dev-contents', 'libfoo-dev:dev-contents']);
  });

  it('a linker script as the unversioned .so (melange leaves it in the main package) stands in for the link', async () => {
    const main = await pkg(
      'libfoo',
      { 'usr/lib/libfoo.so.1': lib, 'usr/lib/libfoo.so': 'INPUT(libfoo.so.1)\n' },
      LIB_META,
    );
    const dev = await pkg('libfoo-dev', { 'usr/include/foo.h': '/* */\n' });
    expect(checks(all([main, dev]))).toEqual([]);
  });

  it('reports an ELF file it cannot read instead of failing', async () => {
    const broken = Buffer.concat([lib.subarray(0, 64), Buffer.alloc(8)]);
    const p = await pkg('libfoo', { 'usr/share/foo/broken.bin': broken });
    expect(checks(checkPackage(p, { strips: true }))).toEqual(['libfoo:elf-readable']);
  });
});

describe('fresh dependencies', () => {
  const config =
    'package:\n  name: pcre2\nenvironment:\n  contents:\n    packages:\n      - build-base\n      - zlib-dev\n      - libedit-dev>=3\n';
  const built = new Map([
    ['zlib-dev', { version: '1.2.13-r4', origin: 'zlib' }],
    ['libedit-dev', { version: '3.1_p20221030-r2', origin: 'libedit' }],
    ['pcre2', { version: '10.42-r0', origin: 'pcre2' }],
  ]);
  const log = (pkgs: string) => `== environment (x86_64)\nenvironment: 3 package(s): ${pkgs}\n`;

  it("passes when the build's environment holds the run's packages", () => {
    expect(environmentNames(config).names).toEqual(['build-base', 'zlib-dev', 'libedit-dev']);
    expect(
      checkFreshDeps(
        config,
        log('debian-toolchain-12-r1 zlib-dev-1.2.13-r4 libedit-dev-3.1_p20221030-r2'),
        built,
      ),
    ).toEqual([]);
  });

  it('names a dependency that came from elsewhere, and a log without the environment', () => {
    expect(
      checks(checkFreshDeps(config, log('debian-toolchain-12-r1 libedit-dev-3.1_p20221030-r2'), built)),
    ).toEqual(['pcre2:fresh-deps']);
    expect(checkFreshDeps(config, 'no such line', built)[0]?.message).toMatch(/no environment line/);
  });
});
