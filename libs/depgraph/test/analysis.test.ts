import { describe, expect, it } from 'vitest';
import { condensation, reverseClosure, shortestCycle, stronglyConnected } from '@melange2/depgraph/internal';

function adj(n: number, edges: [number, number][]) {
  const start = new Int32Array(n + 1);
  for (const [a] of edges) start[a + 1]!++;
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const targets = new Int32Array(edges.length);
  for (const [a, b] of edges) targets[fill[a]!++] = b;
  return { start, targets };
}

describe('stronglyConnected', () => {
  it('numbers components dependencies first', () => {
    // 0 → 1 → 2 → 1, 3 → 0
    const s = stronglyConnected(
      4,
      adj(4, [
        [0, 1],
        [1, 2],
        [2, 1],
        [3, 0],
      ]),
    );
    expect(s.members).toEqual([[1, 2], [0], [3]]);
  });

  it('handles a 300,000-node chain and a 300,000-node cycle without recursion limits', () => {
    const n = 300_000;
    const chain: [number, number][] = [];
    for (let i = 0; i + 1 < n; i++) chain.push([i, i + 1]);
    expect(stronglyConnected(n, adj(n, chain)).members).toHaveLength(n);
    chain.push([n - 1, 0]);
    expect(stronglyConnected(n, adj(n, chain)).members).toHaveLength(1);
  });
});

describe('condensation', () => {
  it('collapses each component to one node, with deduplicated edges between components', () => {
    // 3 → {1,2} (twice) → 0
    const a = adj(4, [
      [3, 1],
      [3, 2],
      [1, 2],
      [2, 1],
      [1, 0],
      [2, 0],
    ]);
    const s = stronglyConnected(4, a);
    const c = condensation(a, s);
    const list = (x: number) => Array.from(c.targets.subarray(c.start[x]!, c.start[x + 1]!));
    expect(s.members).toEqual([[0], [1, 2], [3]]);
    expect([list(0), list(1), list(2)]).toEqual([[], [0], [1]]);
  });
});

describe('shortestCycle', () => {
  it('finds the shortest cycle inside a component, not the first one', () => {
    // 0 → 1 → 2 → 3 → 0 and 2 → 1
    const a = adj(4, [
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 0],
      [2, 1],
    ]);
    const s = stronglyConnected(4, a);
    expect(shortestCycle(a, s.comp, s.comp[0]!, s.members[0]!)).toEqual([1, 2]);
  });
});

describe('reverseClosure', () => {
  it('walks dependents breadth-first, bounded by depth, remembering who brought each in', () => {
    // dependents: 0 ← 1 ← 2 ← 3 (reverse adjacency: node → its dependents)
    const rev = adj(4, [
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    expect(reverseClosure(rev, [0]).map((h) => [h.node, h.depth, h.via])).toEqual([
      [1, 1, 0],
      [2, 2, 1],
      [3, 3, 2],
    ]);
    expect(reverseClosure(rev, [0], 2).map((h) => h.node)).toEqual([1, 2]);
  });
});
