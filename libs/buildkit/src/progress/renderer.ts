import type { SolveEvent, SolveSummary } from './events.js';

/** Where the renderer writes; `isTTY` turns on in-place updates. */
export interface RenderTarget {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface RendererOptions {
  readonly out: RenderTarget;
  /** Print step logs as `    | line`. */
  readonly debug?: boolean;
  /** Log lines printed (as `    | line`) without `debug` too: the caller's own progress markers. */
  readonly showLog?: (line: string) => boolean;
  /** Number of steps in the Definition, for `[i/N]` (steps the daemon adds, like exports, count too). */
  readonly totalSteps?: number;
  /** Force or suppress in-place updates (default: `out.isTTY`). */
  readonly tty?: boolean;
  /** Clock for tests. */
  readonly now?: () => number;
}

function secs(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

/**
 * The melange2 progress format: `[i/N] name` when a step starts, `  -> name (18.3s) [done]`
 * (or `[CACHED]`, `[ERROR]`) when it ends, logs as `    | line` with debug, then a summary.
 * On a TTY a status line below the log shows running steps and their elapsed time.
 */
export class ProgressRenderer {
  readonly #o: RendererOptions;
  readonly #now: () => number;
  readonly #numbered = new Map<string, number>();
  readonly #running = new Map<string, { name: string; since: number }>();
  #footer = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: RendererOptions) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    if (this.#tty) {
      this.#timer = setInterval(() => this.#drawFooter(), 100);
      this.#timer.unref();
    }
  }

  get #tty(): boolean {
    return this.#o.tty ?? this.#o.out.isTTY === true;
  }

  /** Feed every solve event here (`solve(def, opts, { onEvent: r.onEvent })`). */
  readonly onEvent = (e: SolveEvent): void => {
    switch (e.type) {
      case 'vertex.started':
        this.#running.set(e.vertex.digest, { name: e.vertex.name, since: e.started.getTime() });
        this.#start(e.vertex.digest, e.vertex.name);
        break;
      case 'vertex.cached':
        this.#start(e.vertex.digest, e.vertex.name);
        this.#running.delete(e.vertex.digest);
        this.#line(`  -> ${e.vertex.name} (0.0s) [CACHED]`);
        break;
      case 'vertex.completed':
        this.#start(e.vertex.digest, e.vertex.name);
        this.#running.delete(e.vertex.digest);
        this.#line(`  -> ${e.vertex.name} (${secs(e.durationMs)}) [done]`);
        break;
      case 'vertex.errored':
        this.#start(e.vertex.digest, e.vertex.name);
        this.#running.delete(e.vertex.digest);
        this.#line(`  -> ${e.vertex.name} (${secs(e.durationMs)}) [ERROR]`);
        this.#line(`     ${e.error}`);
        break;
      case 'vertex.log':
        if (this.#o.debug || this.#o.showLog?.(e.line)) this.#line(`    | ${e.line}`);
        break;
      case 'vertex.warning':
        this.#line(`  ! ${e.vertex.name}: ${e.message}`);
        break;
      case 'vertex.progress':
        break;
    }
  };

  #start(digest: string, name: string): void {
    if (this.#numbered.has(digest)) return;
    const i = this.#numbered.size + 1;
    this.#numbered.set(digest, i);
    const n = Math.max(this.#o.totalSteps ?? 0, i);
    this.#line(`[${i}/${n}] ${name}`);
  }

  #line(s: string): void {
    this.#clearFooter();
    this.#o.out.write(`${s}\n`);
    this.#drawFooter();
  }

  #clearFooter(): void {
    if (this.#footer) {
      this.#o.out.write('\r\x1b[K');
      this.#footer = false;
    }
  }

  #drawFooter(): void {
    if (!this.#tty || this.#running.size === 0) {
      this.#clearFooter();
      return;
    }
    const now = this.#now();
    const parts = [...this.#running.values()].map((r) => `${r.name} (${secs(now - r.since)})`);
    let text = `running: ${parts.join(', ')}`;
    const width = this.#o.out.columns ?? 120;
    if (text.length > width - 1) text = `${text.slice(0, width - 2)}…`;
    this.#o.out.write(`\r\x1b[K${text}`);
    this.#footer = true;
  }

  /** Stops in-place updates and prints the closing summary. */
  finish(summary: SolveSummary): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#running.clear();
    this.#clearFooter();
    this.#o.out.write(
      `\nTotal steps: ${summary.total}\nCached: ${summary.cached}\nExecuted: ${summary.executed}\n` +
        (summary.errored ? `Failed: ${summary.errored}\n` : '') +
        `Duration: ${secs(summary.durationMs)}\n`,
    );
  }

  /** Stops in-place updates without a summary (e.g. on cancellation). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#running.clear();
    this.#clearFooter();
  }
}
