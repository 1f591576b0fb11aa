import { MAX_AWAITING } from '@melange2/protocol';
import type { RunBuild } from './plan-run.js';
import type { ReachIndex } from './reach.js';
import { ReachClosures } from './reach-closure.js';

/** Names followed per build through what installing them pulls in (a bound for hostile indexes). */
const MAX_REACH = 20_000;
/** Producer indices the memoized closures may hold in all, per arch (then each build walks on its own). */
const CLOSURE_BUDGET = 8_000_000;

/**
 * What a dispatched job names as `awaiting`: nothing; the names (at most MAX_AWAITING); or, when
 * more than that would be needed, no dispatch yet: the build waits for those producers first
 * (a job that cannot name them all must not be able to install an older provider of one).
 */
export type AwaitingVerdict =
  | { readonly kind: 'none' }
  | { readonly kind: 'names'; readonly names: readonly string[] }
  | { readonly kind: 'defer'; readonly producers: readonly string[] };

/**
 * The names a build's environment must not take from elsewhere because this run is still to
 * produce them: for every name its environment asks for and, transitively, every name those pull
 * in (the ReachIndex: the repository's runtime dependencies and the indexes' `D:`), each build of
 * the same arch that provides it and `open` accepts (not settled, not this build, not one that
 * waits for this build, not a fellow member of its cycle) contributes all its package and provide
 * names.
 */
export class RunNames {
  /** Per arch: name → ids of the run's builds that make it. */
  readonly #producers = new Map<string, Map<string, string[]>>();
  /** The same by index into `#list`, for the memoized closures. */
  readonly #producerIndices = new Map<string, Map<string, number[]>>();
  readonly #closures = new Map<string, ReachClosures>();
  readonly #builds: ReadonlyMap<string, RunBuild>;
  readonly #list: readonly RunBuild[];
  /** Each build's package and provide names. */
  readonly #names: readonly (readonly string[])[];

  constructor(
    builds: readonly RunBuild[],
    readonly reach: ReachIndex,
  ) {
    this.#builds = new Map(builds.map((b) => [b.id, b]));
    this.#list = builds;
    this.#names = builds.map(namesOf);
    builds.forEach((b, i) => {
      const m = this.#producers.get(b.arch) ?? new Map<string, string[]>();
      this.#producers.set(b.arch, m);
      const mi = this.#producerIndices.get(b.arch) ?? new Map<string, number[]>();
      this.#producerIndices.set(b.arch, mi);
      for (const n of this.#names[i]!) {
        const l = m.get(n);
        if (!l) {
          m.set(n, [b.id]);
          mi.set(n, [i]);
        } else if (!l.includes(b.id)) {
          l.push(b.id);
          mi.get(n)!.push(i);
        }
      }
    });
  }

  #closuresOf(arch: string): ReachClosures {
    let c = this.#closures.get(arch);
    if (!c) {
      c = new ReachClosures(
        arch,
        this.reach,
        this.#producerIndices.get(arch) ?? new Map(),
        this.#list.length,
        CLOSURE_BUDGET,
      );
      this.#closures.set(arch, c);
    }
    return c;
  }

  /** What the job of `b` names; `open(id)` says whether that producer is one `b` may wait for. */
  awaiting(b: RunBuild, open: (id: string) => boolean): AwaitingVerdict {
    if (!this.#producers.get(b.arch) || !b.needs?.length) return { kind: 'none' };
    // The producers every name `b` needs reaches, from the memoized closures (in plan order).
    const closures = this.#closuresOf(b.arch);
    const seen = new Set<number>();
    for (const n of b.needs) {
      const c = closures.of(n);
      if (!c) return this.#walk(b, open);
      for (const i of c) seen.add(i);
    }
    const names = new Set<string>();
    const waitFor: string[] = [];
    for (const i of [...seen].sort((x, y) => x - y)) {
      const p = this.#list[i]!;
      if (p.id === b.id || sameCycle(b, p) || !open(p.id)) continue;
      waitFor.push(p.id);
      for (const x of this.#names[i]!) names.add(x);
    }
    return verdict(names, waitFor);
  }

  /** `awaiting` by walking the reach graph from `b`'s needs (the closures' budget is spent). */
  #walk(b: RunBuild, open: (id: string) => boolean): AwaitingVerdict {
    const producers = this.#producers.get(b.arch)!;
    const verdicts = new Map<string, boolean>();
    const names = new Set<string>();
    const waitFor: string[] = [];
    const seen = new Set<string>(b.needs);
    const queue = [...(b.needs ?? [])];
    for (let i = 0; i < queue.length && seen.size < MAX_REACH; i++) {
      const n = queue[i]!;
      for (const id of producers.get(n) ?? []) {
        if (id === b.id || verdicts.has(id)) continue;
        const ok = !sameCycle(b, this.#builds.get(id)!) && open(id);
        verdicts.set(id, ok);
        if (!ok) continue;
        waitFor.push(id);
        for (const x of namesOf(this.#builds.get(id)!)) names.add(x);
      }
      for (const d of this.reach.deps(b.arch, n) ?? []) {
        if (seen.has(d)) continue;
        seen.add(d);
        queue.push(d);
      }
    }
    return verdict(names, waitFor);
  }

  /** The run's builds of `arch` that make `name`. */
  producersOf(arch: string, name: string): readonly string[] {
    return this.#producers.get(arch)?.get(name) ?? [];
  }
}

function verdict(names: ReadonlySet<string>, waitFor: readonly string[]): AwaitingVerdict {
  if (names.size === 0) return { kind: 'none' };
  if (names.size > MAX_AWAITING) return { kind: 'defer', producers: waitFor };
  return { kind: 'names', names: [...names].sort() };
}

/** Members of one cycle build against what is published (the cycle policy): they never wait for each other. */
const sameCycle = (a: RunBuild, b: RunBuild) =>
  a.cycle !== undefined && a.cycle === b.cycle && a.arch === b.arch;

const namesOf = (b: RunBuild): readonly string[] => [...b.packages, ...(b.provides ?? [])];
