import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyze, buildGraph, scanRepository } from '@melange2/depgraph';

const root = mkdtempSync(join(tmpdir(), 'depgraph-runtime-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function config(name: string, body: string): void {
  writeFileSync(
    join(root, 'repo', `${name}.yaml`),
    `package:\n  name: ${name}\n  version: 1.0.0\n  epoch: 0\n${body}\npipeline:\n  - runs: "true"\n`,
  );
}

const env = (...pkgs: string[]) =>
  `environment:\n  contents:\n    packages:\n${pkgs.map((p) => `      - ${p}\n`).join('')}`;

describe('build order follows the runtime closure of build dependencies', () => {
  mkdirSync(join(root, 'repo'), { recursive: true });
  // bc needs flex; flex's package needs m4 at runtime (and m4 needs libsigsegv's library).
  config('m4', '  dependencies:\n    runtime:\n      - so:libsigsegv.so.2\n');
  config('libsigsegv', '  dependencies:\n    provides:\n      - so:libsigsegv.so.2=2\n');
  config('flex', `  dependencies:\n    runtime:\n      - m4\n${env('busybox')}`);
  config('bc', env('busybox', 'flex'));
  // A -dev subpackage that needs its library: the dependent waits for the library's config only.
  config(
    'zlib',
    `subpackages:\n  - name: zlib-dev\n    dependencies:\n      runtime:\n        - zlib\n        - pkgconf\n${env('busybox')}`,
  );
  config('pkgconf', '');
  config('pcre2', env('zlib-dev'));
  // A runtime loop among installed packages ends.
  config('loop-a', '  dependencies:\n    runtime:\n      - loop-b\n');
  config('loop-b', '  dependencies:\n    runtime:\n      - loop-a\n');
  config('uses-loop', env('loop-a'));

  const graph = async () =>
    buildGraph(await scanRepository(join(root, 'repo'), { cacheDir: false }), {
      arch: 'x86_64',
    });
  const deps = (g: Awaited<ReturnType<typeof graph>>, name: string) =>
    g.edges
      .filter((e) => g.nodes[e.from]!.name === name)
      .map((e) => `${g.nodes[e.to]!.name}: ${e.deps.join(', ')}`)
      .sort();

  it('bc → flex → m4 → libsigsegv: bc waits for all three', async () => {
    const g = await graph();
    expect(deps(g, 'bc')).toEqual([
      'flex: flex',
      'libsigsegv: so:libsigsegv.so.2 (via m4)',
      'm4: m4 (via flex)',
    ]);
    // flex's own build does not install flex: its runtime deps are no build edge of its own.
    expect(deps(g, 'flex')).toEqual([]);
    const { schedule } = analyze(g, 'serial');
    const wave = (n: string) => schedule.waves.findIndex((w) => w.includes(g.index.get(n)!));
    expect(wave('bc')).toBeGreaterThan(wave('m4'));
    expect(wave('bc')).toBeGreaterThan(wave('libsigsegv'));
  });

  it('a -dev subpackage brings its library and its other runtime deps', async () => {
    const g = await graph();
    expect(deps(g, 'pcre2')).toEqual(['pkgconf: pkgconf (via zlib-dev)', 'zlib: zlib-dev']);
  });

  it('a runtime loop among installed packages terminates', async () => {
    const g = await graph();
    expect(deps(g, 'uses-loop')).toEqual(['loop-a: loop-a', 'loop-b: loop-b (via loop-a)']);
  });
});
