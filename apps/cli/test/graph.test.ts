import { describe, expect, it } from 'vitest';
import { fixtureRepo, run } from './depgraph-cli.js';

describe('melange2-orch graph', () => {
  it('--format json gives the counts, cycles, levels, critical path and full node and edge lists', async () => {
    const r = await run(['graph', fixtureRepo, '--no-parse-cache', '--format', 'json']);
    // The fixture holds a config that does not parse: the graph is printed, and the exit is 1.
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.nodes).toBe(17);
    expect(j.edges).toBe(j.edgeList.length);
    expect(j.unresolved).toEqual(['missing-thing']);
    expect(j.sccs).toEqual([
      ['c1', 'c2', 'c3'],
      ['build-base', 'busybox'],
    ]);
    expect(j.levels).toBe(4);
    expect(j.maxWidth).toBeGreaterThan(1);
    expect(j.criticalPath).toEqual(['build-base', 'libfoo', 'py3-bar', 'app']);
    expect(j.nodeList).toHaveLength(17);
    expect(j.edgeList).toContainEqual({ from: 'app', to: 'provider-b', deps: ['virtual-x'] });
    // the broken config is reported, with its line, and left out
    expect(r.err).toMatch(/warning: broken\.yaml:\d+: invalid YAML/);
  });

  it('--format text is a readable summary with cycle explanations', async () => {
    const r = await run(['graph', fixtureRepo, '--no-parse-cache', '--arch', 'aarch64']);
    expect(r.code).toBe(1);
    expect(r.out).toContain('build graph for aarch64');
    expect(r.out).toContain('c1 →[c2] c2 →[c3] c3 →[c1-dev] c1');
    expect(r.out).toMatch(/unresolved \(1, must come from external repositories\): missing-thing/);
  });

  it('--format dot renders for Graphviz, with the dependency on each edge', async () => {
    const r = await run(['graph', fixtureRepo, '--no-parse-cache', '--format', 'dot', '--pipeline-needs']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^digraph /);
    expect(r.out).toContain('"app" -> "helper" [label="helper"];');
  });

  it('rejects bad options and a missing repository with a usage error', async () => {
    expect((await run(['graph', fixtureRepo, '--arch', 'riscv64'])).code).toBe(2);
    expect((await run(['graph', fixtureRepo, '--format', 'yaml'])).code).toBe(2);
    const missing = await run(['graph', `${fixtureRepo}/nope`, '--no-parse-cache']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nope: cannot read the repository/);
  });
});
