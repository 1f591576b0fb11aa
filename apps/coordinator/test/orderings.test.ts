import { describe, expect, it } from 'vitest';
import {
  makespanLowerBound,
  ORDERINGS,
  type Ordering,
  type ScheduledBuild,
  Scheduler,
  simulateRun,
} from '@melange2/coordinator/internal';

const b = (name: string, deps: string[] = [], cost = 1): ScheduledBuild => ({
  id: `${name}@x86_64`,
  name,
  arch: 'x86_64',
  deps: deps.map((d) => `${d}@x86_64`),
  cost,
  reasons: ['full build'],
});

/** Dispatch order with one slot, each build published as soon as it is taken. */
function order(builds: readonly ScheduledBuild[], ordering?: Ordering): string[] {
  const s = new Scheduler(builds, ordering ? { ordering } : {});
  const out: string[] = [];
  for (let t = s.take('x86_64', 1); t.length > 0; t = s.take('x86_64', 1)) {
    out.push(t[0]!.name);
    s.succeeded(t[0]!.id);
  }
  return out;
}

// Three chains of equal cost (3): `c` unlocks four builds, `b` two, `a` none (it is alone).
const tied = [
  b('a', [], 3),
  b('b', [], 1),
  b('b1', ['b'], 2),
  b('b2', ['b'], 2),
  b('c', [], 1),
  b('c1', ['c'], 2),
  b('c2', ['c'], 1),
  b('c3', ['c'], 1),
  b('c4', ['c'], 1),
];

describe('orderings', () => {
  it('cp-unlock: the longest chain first, and among equal chains the build that unlocks the most', () => {
    expect(order(tied, 'cp-unlock').slice(0, 3)).toEqual(['c', 'b', 'a']);
  });

  it('default: cp-mix', () => {
    expect(order(tied, 'cp-mix')).toEqual(order(tied));
  });

  it('the previous critical-path ordering breaks the same ties by id only', () => {
    expect(order(tied, 'critical-path').slice(0, 3)).toEqual(['a', 'b', 'c']);
  });

  it('breaks complete ties by build id, whatever the plan order', () => {
    const same = ['m', 'k', 'x', 'd'].map((n) => b(n, [], 5));
    for (const o of ORDERINGS.filter((x) => x !== 'fifo' && x !== 'cp-mix')) {
      expect(order(same, o)).toEqual(['d', 'k', 'm', 'x']);
      expect(order([...same].reverse(), o)).toEqual(['d', 'k', 'm', 'x']);
    }
    expect(order(same, 'fifo')).toEqual(['m', 'k', 'x', 'd']);
  });

  it('cp-mix takes every other build of an arch in plan order, the first by the critical path', () => {
    const same = ['m', 'k', 'x', 'd'].map((n) => b(n, [], 5));
    expect(order(same, 'cp-mix')).toEqual(['d', 'm', 'k', 'x']);
    expect(order([...same].reverse(), 'cp-mix')).toEqual(['d', 'x', 'k', 'm']);
    // The longest chain still starts first; the plan's first build comes next.
    expect(order(tied, 'cp-mix').slice(0, 2)).toEqual(['c', 'a']);
    // Each build once, and the ready count exact though each is queued twice.
    const s = new Scheduler(tied, { ordering: 'cp-mix' });
    expect(s.readyCount('x86_64')).toBe(3);
    const two = s.take('x86_64', 2).map((x) => x.name);
    expect(two).toEqual(['c', 'a']);
    expect(s.readyCount('x86_64')).toBe(1);
    s.failed('b@x86_64', 'broken');
    expect(s.readyCount('x86_64')).toBe(0);
    expect(s.take('x86_64', 5)).toEqual([]);
  });

  it('every ordering is deterministic and respects dependencies', () => {
    const builds = Array.from({ length: 200 }, (_, i) =>
      b(`p${i}`, i > 7 ? [`p${(i * 7) % i}`, `p${i % 8}`] : [], 1 + ((i * 13) % 5)),
    );
    for (const o of ORDERINGS) {
      const first = order(builds, o);
      expect(order(builds, o)).toEqual(first);
      expect(first).toHaveLength(200);
      const at = new Map(first.map((n, i) => [n, i]));
      for (const x of builds)
        for (const d of x.deps) expect(at.get(d.split('@')[0]!)!).toBeLessThan(at.get(x.name)!);
    }
  });
});

describe('simulateRun', () => {
  const chainAndLeaves = [
    ...Array.from({ length: 10 }, (_, i) => b(`leaf${i}`, [], 10)),
    b('c0', [], 50),
    b('c1', ['c0'], 50),
    b('c2', ['c1'], 50),
  ];

  it('reaches the lower bound on a chain beside independent work, and FIFO does not', () => {
    const o = { slots: 2, actual: (x: ScheduledBuild) => x.cost };
    const lb = makespanLowerBound(chainAndLeaves, 2, o.actual);
    expect(lb).toBe(150);
    expect(simulateRun(chainAndLeaves, { ...o, ordering: 'cp-unlock' }).makespan).toBe(150);
    expect(simulateRun(chainAndLeaves, { ...o, ordering: 'fifo' }).makespan).toBeGreaterThan(150);
  });

  it('with a shared CPU: free CPU changes nothing, a busy one bounds the run by builds × CPU per build', () => {
    const o = { slots: 2, actual: (x: ScheduledBuild) => x.cost, ordering: 'cp-unlock' as const };
    const plain = simulateRun(chainAndLeaves, o);
    expect(simulateRun(chainAndLeaves, { ...o, cpu: { atStart: 0, atEnd: 0, cores: 1 } })).toEqual(plain);
    const instant = { ...o, actual: () => 0, cpu: { atStart: 1, atEnd: 2, cores: 1 } };
    expect(simulateRun(chainAndLeaves, instant).makespan).toBe(3 * chainAndLeaves.length);
    const slow = simulateRun(chainAndLeaves, { ...o, cpu: { atStart: 1, atEnd: 1, cores: 1 } });
    expect(slow.makespan).toBeGreaterThan(plain.makespan);
    expect(slow.decisions).toBe(plain.decisions);
  });

  it('is deterministic, never below the bound, and adds the release delay per level', () => {
    const o = { slots: 3, actual: (x: ScheduledBuild) => x.cost * 1.5, ordering: 'cp-unlock' as const };
    const r = simulateRun(chainAndLeaves, o);
    expect(simulateRun(chainAndLeaves, o)).toEqual(r);
    expect(r.makespan).toBeGreaterThanOrEqual(makespanLowerBound(chainAndLeaves, 3, o.actual));
    expect(r.decisions).toBe(2 * chainAndLeaves.length);
    expect(simulateRun(chainAndLeaves, { ...o, releaseDelay: 1 }).makespan).toBe(r.makespan + 3);
  });
});
