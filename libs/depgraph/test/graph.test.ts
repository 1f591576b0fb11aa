import { beforeAll, describe, expect, it } from 'vitest';
import { analyze, type BuildGraph, buildGraph, type RepoScan, scanRepository } from '@melange2/depgraph';
import { fixtureRepo } from './helpers.js';

let scan: RepoScan;
beforeAll(async () => {
  scan = await scanRepository(fixtureRepo, { cacheDir: false });
});

const node = (g: BuildGraph, name: string) => g.nodes[g.index.get(name)!]!;
const depsOf = (g: BuildGraph, name: string) =>
  g.edges
    .filter((e) => g.nodes[e.from]!.name === name)
    .map((e) => `${e.deps.join('+')}→${g.nodes[e.to]!.name}`)
    .sort();
const external = (g: BuildGraph, name: string) =>
  g.external.filter((e) => e.config === name).map((e) => `${e.dep.text}:${e.reason}`);

describe('the model', () => {
  it('expands range subpackages over their data in sorted key order, keys as strings', () => {
    const g = buildGraph(scan, { arch: 'x86_64' });
    const real = node(g, 'py3-bar').provides.filter((p) => p.real);
    expect(real.map((p) => [p.name, p.priority])).toEqual([
      ['py3-bar', 0],
      ['py3.10-bar', 310],
      ['py3.11-bar', 311],
      ['py3.9-bar', 39],
    ]);
  });

  it('substitutes vars and var-transforms (Go ${1} replacement) in subpackage names and provides', () => {
    const g = buildGraph(scan, { arch: 'x86_64' });
    const p = node(g, 'libfoo').provides.map(
      (x) => `${x.name}${x.version ? `=${x.version}` : ''}${x.real ? '' : ' (virtual)'}`,
    );
    expect(p).toEqual([
      'libfoo=2.0.1-r1',
      'libfoo-dev=2.0.1-r1',
      'so:libfoo.so.2=2.0.1 (virtual)',
      'pc:foo=2.0.1 (virtual)',
      'libfoo20-compat=2.0.1-r1',
    ]);
  });

  it('substitutes ${{build.arch}} per arch and respects target-architecture', () => {
    const x = buildGraph(scan, { arch: 'x86_64', pipelineNeeds: true });
    const a = buildGraph(scan, { arch: 'aarch64', pipelineNeeds: true });
    expect(depsOf(x, 'app')).toContain('tool-x86_64→tool-x86_64');
    expect(depsOf(a, 'app')).toContain('tool-aarch64→tool-aarch64');
    expect(x.excluded).toEqual(['tool-aarch64']);
    expect(a.excluded).toEqual(['tool-x86_64']);
  });
});

describe('dependency resolution', () => {
  const g = () => buildGraph(scan, { arch: 'x86_64' });

  it('chooses providers as apk does and keeps what resolves outside the repo', () => {
    expect(depsOf(g(), 'app')).toEqual([
      'libfoo20-compat+so:libfoo.so.2→libfoo',
      'py3-bar→py3-bar',
      'virtual-x→provider-b', // higher provider-priority
      'vtool→vtool-2', // same priority: the higher version
      'zlib→zlib', // a real package beats a virtual provide, whatever its priority
    ]);
    expect(external(g(), 'app')).toEqual(['libfoo<2.0:constraint', 'missing-thing:unresolved']);
  });

  it('never lets a config satisfy its own dependency', () => {
    expect(external(g(), 'busybox')).toEqual(['busybox:self']);
    expect(depsOf(g(), 'busybox')).toEqual(['build-base→build-base']);
  });

  it('lists names no config provides as unresolved, with who needs them', () => {
    expect([...g().unresolved]).toEqual([['missing-thing', ['app']]]);
  });

  it('adds pipeline needs with inputs substituted and arch conditions evaluated', () => {
    const x = buildGraph(scan, { arch: 'x86_64', pipelineNeeds: true });
    const a = buildGraph(scan, { arch: 'aarch64', pipelineNeeds: true });
    expect(depsOf(x, 'app')).toContain('helper→helper');
    expect(depsOf(x, 'app')).not.toContain('arm-helper→arm-helper');
    expect(depsOf(a, 'app')).toContain('arm-helper→arm-helper');
    expect(depsOf(g(), 'app')).not.toContain('helper→helper');
    expect(node(x, 'app').repoPipelines).toEqual(['local/thing']);
  });

  it('looks pipelines up in the repository first, then in a pluggable built-in set', () => {
    const builtin = (name: string) =>
      name === 'local/thing' || name === 'other' ? { needs: { packages: ['zlib'] } } : undefined;
    const withBuiltins = buildGraph(
      {
        configs: scan.configs.map((c) =>
          c.name === 'zlib-ng' ? { ...c, pipeline: [{ uses: 'other' }] } : c,
        ),
        pipelines: scan.pipelines,
      },
      { arch: 'x86_64', pipelineNeeds: true, builtinPipelines: builtin },
    );
    expect(depsOf(withBuiltins, 'zlib-ng')).toEqual(['zlib→zlib']);
    expect(depsOf(withBuiltins, 'app')).toContain('helper→helper');
  });
});

describe('analysis', () => {
  it('finds every cycle with a concrete shortest cycle as its explanation', () => {
    const { report } = analyze(buildGraph(scan, { arch: 'x86_64' }), 'bootstrap');
    expect(report.cycles.map((c) => [c.size, c.shortest])).toEqual([
      [3, 'c1 →[c2] c2 →[c3] c3 →[c1-dev] c1'],
      [2, 'build-base →[busybox] busybox →[build-base] build-base'],
    ]);
    expect(report.sccs).toEqual([
      ['c1', 'c2', 'c3'],
      ['build-base', 'busybox'],
    ]);
  });

  it('bootstrap: cycle members build in parallel; levels, widths and the critical path follow', () => {
    const { report } = analyze(buildGraph(scan, { arch: 'x86_64' }), 'bootstrap');
    expect(report.nodes).toBe(17); // tool-aarch64 is not built for x86_64
    expect(report.levels).toBe(4);
    expect(report.criticalPath).toEqual(['build-base', 'libfoo', 'py3-bar', 'app']);
    expect(report.widths.reduce((a, b) => a + b, 0)).toBe(17);
    expect(report.maxWidth).toBe(Math.max(...report.widths));
    expect(report.externalByReason).toEqual({ self: 1, constraint: 1, unresolved: 1 });
  });

  it('serial: breaks cycles in name order, deterministically, and says which edge closed which cycle', () => {
    const g = buildGraph(scan, { arch: 'x86_64' });
    const a = analyze(g, 'serial').report;
    const b = analyze(buildGraph(scan, { arch: 'x86_64' }), 'serial').report;
    expect(a).toEqual(b);
    expect(a.droppedEdges).toEqual([
      {
        from: 'busybox',
        to: 'build-base',
        deps: ['build-base'],
        cycle: 'busybox →[build-base] build-base →[busybox] busybox',
      },
      { from: 'c3', to: 'c1', deps: ['c1-dev'], cycle: 'c3 →[c1-dev] c1 →[c2] c2 →[c3] c3' },
    ]);
    expect(a.levels).toBeGreaterThan(analyze(g, 'bootstrap').report.levels);
  });

  it('weights the critical path by durations or resource hints when given', () => {
    const g = buildGraph(scan, { arch: 'x86_64' });
    const durations = new Map([
      ['c1', 100],
      ['c2', 100],
      ['c3', 100],
    ]);
    const { report } = analyze(g, 'serial', { durations });
    expect(report.weightedCriticalPath).toEqual({ path: ['c3', 'c2', 'c1'], cost: 300 });
  });
});
