import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  allPublished,
  analyze,
  ARCHES,
  buildGraph,
  PublishedIndex,
  planBuilds,
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
      const published = new PublishedIndex();
      for (const n of g.nodes) published.add(n.name, n.fullVersion, arch);
      const plan = planBuilds(g, { published });
      expect(plan.total).toBe(0);
      expect(allPublished(scan.configs, arch, published)).toEqual(
        plan.upToDate.map((name) => ({ name, fullVersion: g.nodes[g.index.get(name)!]!.fullVersion })),
      );
    }
  }, 120_000);
});
