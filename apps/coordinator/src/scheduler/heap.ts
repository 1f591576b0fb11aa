/** A binary min-heap by `less`; the simulation's event queue. */
export class Heap<T> {
  readonly #items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.#items.length;
  }

  peek(): T | undefined {
    return this.#items[0];
  }

  push(x: T): void {
    const a = this.#items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * A binary min-heap of non-negative integers in a typed array: a ready queue holds ranks (a
 * build's position in the precomputed priority order), so a comparison is one integer compare
 * and the queue is no array of object references for the collector to trace.
 */
export class IntHeap {
  #a = new Int32Array(64);
  #n = 0;

  get size(): number {
    return this.#n;
  }

  push(x: number): void {
    if (this.#n === this.#a.length) {
      const grown = new Int32Array(this.#a.length * 2);
      grown.set(this.#a);
      this.#a = grown;
    }
    const a = this.#a;
    let i = this.#n++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const up = a[p]!;
      if (up <= x) break;
      a[i] = up;
      i = p;
    }
    a[i] = x;
  }

  /** The smallest value, or −1 when empty. */
  pop(): number {
    if (this.#n === 0) return -1;
    const a = this.#a;
    const top = a[0]!;
    const n = --this.#n;
    if (n > 0) {
      const x = a[n]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const c = l + 1 < n && a[l + 1]! < a[l]! ? l + 1 : l;
        if (a[c]! >= x) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = x;
    }
    return top;
  }
}
