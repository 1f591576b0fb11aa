import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  analyze,
  ARCHES,
  buildGraph,
  PublishedIndex,
  planBuilds,
  publishedState,
  scanRepository,
} from '@melange2/depgraph';
import { corpus } from './helpers.js';

const present = existsSync(corpus);
if (!present)
  console.warn(
    `depgraph corpus test skipped: ${corpus} is absent (see /work/shared/research/wolfi-scale.md)`,
  );

describe.skipIf(!present)('the Wolfi corpus', () => {
  it('scans every config and prints the graph figures per arch', async () => {
    const scan = await scanRepository(corpus, { cacheDir: false });
    expect(scan.problems).toEqual([]);
    expect(scan.configs.length).toBeGreaterThan(3000);
    for (const arch of ARCHES) {
      const g = buildGraph(scan, { arch });
      expect(g.problems).toEqual([]);
      const { report: r } = analyze(g, 'bootstrap');
      const serial = analyze(g, 'serial').report;
      console.log(
        `${arch}: ${r.nodes} configs, ${r.edges} edges, ${r.unresolved.length} unresolved, cycles ${r.cycles.map((c) => c.size).join('+')}, ` +
          `${r.levels} levels (serial ${serial.levels}), widest ${r.maxWidth}, critical path ${r.criticalPath.length}`,
      );
      for (const c of r.cycles) console.log(`  ${c.size}: ${c.shortest}`);
      expect(r.cycles.length).toBeGreaterThanOrEqual(1);
      expect(r.maxWidth).toBeGreaterThan(1000);
      expect(serial.levels).toBeGreaterThan(r.levels);
      // Everything published: the no-op check without a graph says what the graph's plan says.
      const all = new PublishedIndex();
      for (const n of g.nodes) all.add(n.name, n.fullVersion, arch);
      const none = planBuilds(g, { published: all });
      expect(none.total).toBe(0);
      const settled = publishedState(scan.configs, arch, all);
      expect(settled.unpublished.size).toBe(0);
      expect(settled.upToDate).toEqual(
        none.upToDate.map((name) => ({ name, fullVersion: g.nodes[g.index.get(name)!]!.fullVersion })),
      );
      // Every third config published: resolving only the rest plans as the whole graph does.
      const some = new PublishedIndex();
      g.nodes.forEach((n, i) => {
        if (i % 3 === 0) some.add(n.name, n.fullVersion, arch);
      });
      const lazy = buildGraph(scan, {
        arch,
        resolveOnly: publishedState(scan.configs, arch, some).unpublished,
      });
      expect(planBuilds(lazy, { published: some })).toEqual(planBuilds(g, { published: some }));
    }
  }, 120_000);
});
