import { describe, expect, it } from 'vitest';
import {
  CycleError,
  criticalPathPriorities,
  type Ordering,
  type ScheduledBuild,
  Scheduler,
} from '@melange2/coordinator/internal';

const b = (name: string, deps: string[] = [], cost = 1, arch = 'x86_64'): ScheduledBuild => ({
  id: `${name}@${arch}`,
  name,
  arch,
  deps: deps.map((d) => `${d}@${arch}`),
  cost,
  reasons: ['not published'],
});
const names = (xs: ScheduledBuild[]) => xs.map((x) => x.name);

describe('Scheduler', () => {
  it('dispatches a dependent only after its dependency is published', () => {
    const s = new Scheduler([b('busybox'), b('zlib', ['busybox']), b('openssl', ['zlib', 'busybox'])]);
    expect(s.state('zlib@x86_64')).toEqual({ kind: 'blocked', waitingOn: ['busybox@x86_64'] });
    expect(names(s.take('x86_64', 10))).toEqual(['busybox']);
    expect(s.take('x86_64', 10)).toEqual([]);
    s.started('busybox@x86_64', 'agent-1');
    expect(s.state('busybox@x86_64')).toEqual({ kind: 'running', attempt: 1, agent: 'agent-1' });
    expect(names(s.succeeded('busybox@x86_64'))).toEqual(['zlib']);
    expect(s.state('openssl@x86_64')).toEqual({ kind: 'blocked', waitingOn: ['zlib@x86_64'] });
    expect(names(s.take('x86_64', 10))).toEqual(['zlib']);
    expect(names(s.succeeded('zlib@x86_64'))).toEqual(['openssl']);
    s.take('x86_64', 10);
    s.succeeded('openssl@x86_64');
    expect(s.done()).toBe(true);
  });

  it('starts the head of the longest chain first, and only as many as there are free slots', () => {
    // `gcc` heads a chain of cost 30; `docs` is cheap and alone.
    const s = new Scheduler([
      b('docs', [], 5),
      b('gcc', [], 10),
      b('llvm', ['gcc'], 10),
      b('rust', ['llvm'], 10),
    ]);
    expect(s.priority('gcc@x86_64')).toBe(30);
    expect(names(s.take('x86_64', 1))).toEqual(['gcc']);
    expect(names(s.take('x86_64', 1))).toEqual(['docs']);
  });

  it('FIFO ordering keeps plan order instead', () => {
    const s = new Scheduler([b('docs', [], 5), b('gcc', [], 10), b('llvm', ['gcc'], 10)], {
      ordering: 'fifo',
    });
    expect(names(s.take('x86_64', 1))).toEqual(['docs']);
  });

  it('keeps arches apart', () => {
    const s = new Scheduler([b('zlib', [], 1, 'x86_64'), b('zlib', [], 1, 'aarch64')]);
    expect(s.take('aarch64', 5).map((x) => x.id)).toEqual(['zlib@aarch64']);
    expect(s.readyCount('x86_64')).toBe(1);
  });

  it('skips everything downstream of a failure with the failed package named, and goes on with the rest', () => {
    const s = new Scheduler([b('a'), b('b', ['a']), b('c', ['b']), b('d')]);
    s.take('x86_64', 10);
    expect(names(s.failed('a@x86_64', 'exit code 2 in step "make"'))).toEqual(['b', 'c']);
    expect(s.state('c@x86_64')).toEqual({ kind: 'skipped', reason: 'dependency failed: a' });
    expect(s.state('a@x86_64')).toEqual({ kind: 'failed', reason: 'exit code 2 in step "make"' });
    s.succeeded('d@x86_64');
    expect(s.done()).toBe(true);
    expect(s.counts()).toMatchObject({ succeeded: 1, failed: 1, skipped: 2 });
  });

  it('treats dependencies outside the run as published', () => {
    const s = new Scheduler([b('app', ['glibc'])]);
    expect(names(s.take('x86_64', 1))).toEqual(['app']);
  });

  it('puts a requeued build back, counting attempts', () => {
    const s = new Scheduler([b('a')]);
    s.take('x86_64', 1);
    s.requeue('a@x86_64');
    expect(s.state('a@x86_64')).toEqual({ kind: 'ready' });
    s.take('x86_64', 1);
    expect(s.attempts('a@x86_64')).toBe(2);
  });

  it('resumes an interrupted run without dispatching what finished', () => {
    const s = new Scheduler([b('a'), b('b', ['a']), b('c')], {
      restored: new Map([
        ['a@x86_64', 'succeeded'],
        ['c@x86_64', 'succeeded'],
      ]),
    });
    expect(names(s.take('x86_64', 10))).toEqual(['b']);
  });

  it('skips the dependents of a build that failed in the interrupted run', () => {
    const s = new Scheduler([b('a'), b('b', ['a']), b('c', ['b']), b('d')], {
      restored: new Map([['a@x86_64', 'failed']]),
    });
    expect(s.state('c@x86_64')).toEqual({ kind: 'skipped', reason: 'dependency failed: a' });
    expect(names(s.take('x86_64', 10))).toEqual(['d']);
  });

  it('names what a blocked build still waits on, published ones dropped', () => {
    const s = new Scheduler([b('a'), b('z'), b('m', ['z', 'a', 'glibc', 'z'])]);
    expect(s.state('m@x86_64')).toEqual({ kind: 'blocked', waitingOn: ['a@x86_64', 'z@x86_64'] });
    s.take('x86_64', 10);
    s.succeeded('z@x86_64');
    expect(s.state('m@x86_64')).toEqual({ kind: 'blocked', waitingOn: ['a@x86_64'] });
    expect(names(s.succeeded('a@x86_64'))).toEqual(['m']);
  });

  it('refuses a plan whose cycles were not broken, naming the members', () => {
    expect(() => new Scheduler([b('x', ['y']), b('y', ['x']), b('z')])).toThrow(CycleError);
    expect(() => new Scheduler([b('x', ['y']), b('y', ['x'])])).toThrow(/x@x86_64, y@x86_64/);
  });

  it('gives the same order for the same input', () => {
    const builds = Array.from({ length: 50 }, (_, i) => b(`p${i}`, i > 5 ? [`p${i % 5}`] : [], (i * 7) % 11));
    const order = () => {
      const s = new Scheduler(builds);
      const out: string[] = [];
      for (;;) {
        const t = s.take('x86_64', 3);
        if (t.length === 0) break;
        for (const x of t) {
          out.push(x.name);
          s.succeeded(x.id);
        }
      }
      return out;
    };
    expect(order()).toEqual(order());
    expect(order()).toHaveLength(50);
  });

  it('takes the ready build with the longest chain, equal chains by id, as a full sort would', () => {
    // A seeded random DAG with many equal costs (ties), two arches, results in a shuffled order.
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const builds: ScheduledBuild[] = [];
    for (let i = 0; i < 400; i++) {
      const arch = i % 3 === 0 ? 'aarch64' : 'x86_64';
      const deps = Array.from({ length: Math.floor(rnd() * 4) }, () => Math.floor(rnd() * i))
        .filter((j) => j < i && (j % 3 === 0) === (arch === 'aarch64'))
        .map((j) => `p${j}`);
      builds.push(b(`p${i}`, i === 0 ? [] : deps, 1 + Math.floor(rnd() * 3), arch));
    }
    const cp = criticalPathPriorities(builds);
    const s = new Scheduler(builds, { ordering: 'critical-path' });
    const done = new Set<string>();
    const inFlight: string[] = [];
    let taken = 0;
    while (taken < builds.length) {
      for (const arch of ['x86_64', 'aarch64']) {
        const ready = builds
          .filter((x) => x.arch === arch && !done.has(x.id) && !inFlight.includes(x.id))
          .filter((x) => x.deps.every((d) => done.has(d)))
          .sort((p, q) => cp.get(q.id)! - cp.get(p.id)! || (p.id < q.id ? -1 : 1));
        const got = s.take(arch, 2);
        expect(got.map((x) => x.id)).toEqual(ready.slice(0, 2).map((x) => x.id));
        inFlight.push(...got.map((x) => x.id));
        taken += got.length;
      }
      // Finish one in flight, not in take order.
      const k = Math.floor(rnd() * inFlight.length);
      const [id] = inFlight.splice(k, 1);
      if (id) {
        s.succeeded(id);
        done.add(id);
      }
    }
    expect(s.counts().dispatched).toBe(inFlight.length);
  });

  it('critical-path ordering finishes a simulated run sooner than FIFO', () => {
    // Ten cheap independent builds listed first, then a chain of five expensive ones.
    const builds = [
      ...Array.from({ length: 10 }, (_, i) => b(`leaf${i}`, [], 10)),
      b('c0', [], 50),
      b('c1', ['c0'], 50),
      b('c2', ['c1'], 50),
      b('c3', ['c2'], 50),
      b('c4', ['c3'], 50),
    ];
    const makespan = (ordering: Ordering) => {
      const s = new Scheduler(builds, { ordering });
      const slots = 2;
      let now = 0;
      const running: { id: string; end: number }[] = [];
      for (;;) {
        for (const x of s.take('x86_64', slots - running.length))
          running.push({ id: x.id, end: now + x.cost });
        if (running.length === 0) break;
        running.sort((p, q) => p.end - q.end);
        const next = running.shift()!;
        now = next.end;
        s.succeeded(next.id);
      }
      return now;
    };
    expect(makespan('critical-path')).toBe(250);
    expect(makespan('fifo')).toBeGreaterThan(250);
  });
});
