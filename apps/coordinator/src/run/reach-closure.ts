import type { ReachIndex } from './reach.js';

/**
 * Memoized closures of one arch's reach graph: for a name, the run's producers (indices into the
 * builds' list) of every name installing it reaches, itself included, in ascending order.
 * Computed on demand by Tarjan's strongly connected components over the names (a cycle's
 * members share one closure; a component's closure is its own producers and its successors'),
 * so each name and edge is walked once per run instead of once per dispatched build.
 *
 * Bounded: past `budget` stored indices in all, `of` answers undefined and the caller walks the
 * graph itself, as it did before (a hostile index cannot make this grow without end).
 */
export class ReachClosures {
  readonly #closure = new Map<string, Int32Array>();
  readonly #arch: string;
  readonly #reach: ReachIndex;
  readonly #producers: ReadonlyMap<string, readonly number[]>;
  #stored = 0;
  readonly #budget: number;
  /** Scratch for unions: `#mark[i] === #stamp` when producer i is in the current union. */
  readonly #mark: Int32Array;
  #stamp = 0;

  constructor(
    arch: string,
    reach: ReachIndex,
    producers: ReadonlyMap<string, readonly number[]>,
    builds: number,
    budget: number,
  ) {
    this.#arch = arch;
    this.#reach = reach;
    this.#producers = producers;
    this.#budget = budget;
    this.#mark = new Int32Array(builds);
  }

  /** The closure of `name`, or undefined once the budget is spent. */
  of(name: string): Int32Array | undefined {
    const c = this.#closure.get(name);
    if (c || this.#stored > this.#budget) return c;
    this.#tarjan(name);
    return this.#stored > this.#budget ? undefined : this.#closure.get(name);
  }

  /** Iterative Tarjan from `root`: every component it completes gets its closure. */
  #tarjan(root: string): void {
    const index = new Map<string, number>();
    const low = new Map<string, number>();
    const onStack = new Set<string>();
    const stack: string[] = [];
    // Call frames: a name and the iterator over its successors.
    const frames: { name: string; next: Iterator<string> }[] = [];
    let counter = 0;
    const enter = (n: string) => {
      index.set(n, counter);
      low.set(n, counter);
      counter++;
      stack.push(n);
      onStack.add(n);
      frames.push({ name: n, next: (this.#reach.deps(this.#arch, n) ?? new Set<string>()).values() });
    };
    enter(root);
    while (frames.length > 0) {
      const f = frames[frames.length - 1]!;
      const r = f.next.next();
      if (!r.done) {
        const d = r.value;
        if (this.#closure.has(d)) continue;
        if (!index.has(d)) enter(d);
        else if (onStack.has(d)) low.set(f.name, Math.min(low.get(f.name)!, index.get(d)!));
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent) low.set(parent.name, Math.min(low.get(parent.name)!, low.get(f.name)!));
      if (low.get(f.name) !== index.get(f.name)) continue;
      // f.name roots a component: pop its members, then their closure.
      const members: string[] = [];
      for (;;) {
        const m = stack.pop()!;
        onStack.delete(m);
        members.push(m);
        if (m === f.name) break;
      }
      const c = this.#union(members);
      this.#stored += c.length;
      for (const m of members) this.#closure.set(m, c);
    }
  }

  /** The producers of `members` and the closures of their successors outside the component. */
  #union(members: readonly string[]): Int32Array {
    const stamp = ++this.#stamp;
    const out: number[] = [];
    const add = (i: number) => {
      if (this.#mark[i] === stamp) return;
      this.#mark[i] = stamp;
      out.push(i);
    };
    for (const m of members) {
      for (const i of this.#producers.get(m) ?? []) add(i);
      for (const d of this.#reach.deps(this.#arch, m) ?? []) {
        const c = this.#closure.get(d);
        if (c) for (const i of c) add(i);
      }
    }
    return Int32Array.from(out).sort();
  }
}
