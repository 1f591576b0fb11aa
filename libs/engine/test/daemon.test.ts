import {
  type Dirent,
  readdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  mkdirSync,
  copyFileSync,
  existsSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { BuildkitClient, llb, SolveError } from '@melange2/buildkit';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { buildGraph, compileText, SOURCE_LOCAL } from '@melange2/engine';
import { ENVIRONMENT_LOCAL } from '@melange2/engine/internal';
import { repo, resolver } from './helpers.js';

const daemons = inject('daemons');
const tools = fileURLToPath(new URL('../../../.tools', import.meta.url));
const BUSYBOX: Record<string, string> = { x86_64: '/bin/busybox', aarch64: join(tools, 'arm64', 'busybox') };
const APPLETS = [
  'sh',
  'cat',
  'echo',
  'id',
  'mkdir',
  'cp',
  'pwd',
  'ls',
  'true',
  'false',
  'test',
  '[',
  'mv',
  'rm',
  'dirname',
  'find',
  'ln',
  'patch',
  'sed',
  'basename',
  'readlink',
];

const dirs: string[] = [];
const temp = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), `m2-engine-${p}-`));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A placeholder build environment: a static busybox and its applets. */
function environmentDir(arch: string): string {
  const d = temp(`env-${arch}`);
  mkdirSync(join(d, 'bin'));
  copyFileSync(BUSYBOX[arch]!, join(d, 'bin', 'busybox'));
  for (const a of APPLETS) symlinkSync('busybox', join(d, 'bin', a));
  return d;
}

const nonce = randomBytes(6).toString('hex');

/** Files and symlinks under `dir`, relative, sorted. */
function listFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((e) => !e.isDirectory())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('compiled graphs solve on a real buildkitd', () => {
  it.each(['x86_64', 'aarch64'])(
    '%s: builds hello.yaml as uid 1000 from the copied source tree and exports only melange-out',
    async (arch) => {
      const addr = daemons.buildkit[arch as 'x86_64' | 'aarch64'];
      if (!BUSYBOX[arch] || !existsSync(BUSYBOX[arch]!)) throw new Error(`no static busybox for ${arch}`);
      const source = temp('src');
      writeFileSync(join(source, 'greeting.txt'), `Hello from the source tree ${nonce}\n`);
      const o = compileText(readFileSync(`${repo}/hello.yaml`, 'utf8'), 'hello.yaml', { arch, resolver });
      if (o.status !== 'compiled') throw new Error(o.status);
      const g = buildGraph(o.plan, { source: llb.local(SOURCE_LOCAL) });
      const out = temp('out');
      const client = await BuildkitClient.connect(addr);
      try {
        const r = await client.solve(g.definition, {
          localDirs: { [ENVIRONMENT_LOCAL]: environmentDir(arch), [SOURCE_LOCAL]: source },
          exports: [{ type: 'local', dest: out }],
        });
        // The step, alone or first or last of the exec's group of steps.
        expect(r.vertices.some((v) => /^write( …|$)|… write \(\d+ steps\)$/.test(v.name))).toBe(true);
      } finally {
        client.close();
      }
      const message = readFileSync(join(out, 'hello/usr/share/hello/message'), 'utf8');
      expect(message).toBe(
        `Hello from the source tree ${nonce}\nuid=1000 home=/home/build sde=315532800 pwd=/home/build/work\npipefail=on\n`,
      );
      expect(readFileSync(join(out, 'hello-doc/usr/share/doc/README'), 'utf8')).toBe(
        'docs for hello in hello-doc\n',
      );
      // Only melange-out/ is exported: package directories at the top, nothing else.
      expect(existsSync(join(out, 'home'))).toBe(false);
      expect(existsSync(join(out, 'bin'))).toBe(false);
    },
    240_000,
  );

  it('x86_64: the built-in patch and split/*, and perl/cleanup pipelines move (and clean) files into their subpackages', async () => {
    const source = temp('src');
    writeFileSync(join(source, 'greeting.txt'), 'hello\n');
    writeFileSync(join(source, 'fix.patch'), readFileSync(`${repo}/splits/fix.patch`));
    writeFileSync(join(source, 'nonce'), nonce);
    const o = compileText(readFileSync(`${repo}/splits.yaml`, 'utf8'), 'splits.yaml', {
      arch: 'x86_64',
      resolver,
    });
    if (o.status !== 'compiled') throw new Error(o.status);
    const out = temp('out');
    const client = await BuildkitClient.connect(daemons.buildkit.x86_64);
    try {
      await client.solve(buildGraph(o.plan, { source: llb.local(SOURCE_LOCAL) }).definition, {
        localDirs: { [ENVIRONMENT_LOCAL]: environmentDir('x86_64'), [SOURCE_LOCAL]: source },
        exports: [{ type: 'local', dest: out }],
      });
    } finally {
      client.close();
    }
    const files = (pkg: string) => listFiles(join(out, pkg));
    expect(readFileSync(join(out, 'splits/usr/bin/greeting'), 'utf8')).toBe('hello, patched\n');
    expect(files('splits')).toEqual(['usr/bin/greeting', 'usr/lib/libfoo.so.1']);
    expect(files('splits-dev')).toEqual([
      'usr/include/foo.h',
      'usr/lib/libfoo.so',
      'usr/lib/pkgconfig/foo.pc',
    ]);
    // split/manpages, then split/alldocs into the same subpackage (merging, not nesting).
    expect(files('splits-doc')).toEqual([
      'usr/share/doc/splits/README',
      'usr/share/info/foo.info',
      'usr/share/man/man1/foo.1',
    ]);
    expect(files('splits-static')).toEqual(['usr/lib/libfoo.a']);
    expect(files('splits-lang')).toEqual(['usr/share/locale/de/LC_MESSAGES/foo.mo']);
    expect(files('splits-info')).toEqual([]); // alldocs took the info pages (and dropped info/dir) first
    expect(files('libbar')).toEqual(['usr/lib/libbar.so.2']);
  }, 120_000);

  it('a failing step fails the solve with the step name; a failing producer in a pipe does not (no pipefail, as melange)', async () => {
    const text = [
      'package: {name: broken, version: "1", epoch: 0}',
      'pipeline:',
      '  - name: fine',
      `    runs: echo ${nonce}`,
      '  - name: producer fails',
      '    runs: false | cat',
      '  - name: consumer fails',
      '    runs: echo x | false',
    ].join('\n');
    const o = compileText(text, 'broken.yaml', { arch: 'x86_64', resolver });
    if (o.status !== 'compiled') throw new Error(o.status);
    const client = await BuildkitClient.connect(daemons.buildkit.x86_64);
    try {
      const err = await client
        // One exec per step: the failing vertex is the failing step itself.
        .solve(buildGraph(o.plan, { grouping: 'step' }).definition, {
          localDirs: { [ENVIRONMENT_LOCAL]: environmentDir('x86_64') },
          exports: [{ type: 'local', dest: temp('out') }],
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(SolveError);
      expect(String((err as Error).message)).toContain('consumer fails');
      expect(String((err as Error).message)).not.toContain('producer fails');
    } finally {
      client.close();
    }
  }, 120_000);
});
