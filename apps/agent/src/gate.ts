/** A counting semaphore whose limit may change (it is asked again on every take and `wake`). */
export class Gate {
  readonly #limit: () => number;
  #held = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: () => number) {
    this.#limit = limit;
  }

  get held(): number {
    return this.#held;
  }

  /** Takes a place if one is free now. */
  tryTake(): boolean {
    if (this.#held >= this.#limit() || this.#waiting.length > 0) return false;
    this.#held++;
    return true;
  }

  /** Resolves true once a place is taken, or false when `signal` aborts first (nothing taken). */
  take(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.tryTake()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const enter = () => {
        signal?.removeEventListener('abort', leave);
        this.#held++;
        resolve(true);
      };
      const leave = () => {
        const i = this.#waiting.indexOf(enter);
        if (i >= 0) this.#waiting.splice(i, 1);
        resolve(false);
        this.wake();
      };
      signal?.addEventListener('abort', leave, { once: true });
      this.#waiting.push(enter);
    });
  }

  give(): void {
    this.#held--;
    this.wake();
  }

  /** Lets in as many waiting as the limit allows now (after a give, or the limit grew). */
  wake(): void {
    while (this.#waiting.length > 0 && this.#held < this.#limit()) this.#waiting.shift()?.();
  }
}

/** Builds whose mean decides on prefetching (an exponential moving average over about this many). */
const MEAN_OVER = 8;

/**
 * Whether an agent pulls builds ahead of its free slots: only while its builds are short. A
 * build held ahead waits for a slot of this agent, where a build dispatched later could have
 * taken the first slot freed anywhere: with builds of minutes that costs ordering, with builds
 * of milliseconds the few milliseconds from a freed slot to its next build arriving are what
 * bounds the farm, and the held build hides them.
 */
export class PrefetchPolicy {
  #meanMs: number | undefined;

  constructor(
    /** Builds held ahead while prefetching (per agent). */
    readonly builds: number,
    /** Prefetching while the builds' mean duration is under this. */
    readonly belowMs: number,
  ) {}

  /** How many builds to hold ahead now. */
  get ahead(): number {
    return this.#meanMs !== undefined && this.#meanMs < this.belowMs ? this.builds : 0;
  }

  /** Takes one build's duration into the mean; true when `ahead` changed. */
  built(ms: number): boolean {
    const before = this.ahead;
    this.#meanMs = this.#meanMs === undefined ? ms : this.#meanMs + (ms - this.#meanMs) / MEAN_OVER;
    return this.ahead !== before;
  }
}

/** An event that happens once (a stop, a kill): callbacks cheap to add and take back per build. */
export class Trigger {
  #fired = false;
  readonly #callbacks = new Set<() => void>();

  /** Calls `f` when it fires (at once if it has); returns how to take `f` back. */
  on(f: () => void): () => void {
    if (this.#fired) {
      f();
      return () => {};
    }
    this.#callbacks.add(f);
    return () => this.#callbacks.delete(f);
  }

  fire(): void {
    if (this.#fired) return;
    this.#fired = true;
    for (const f of [...this.#callbacks]) f();
    this.#callbacks.clear();
  }
}
