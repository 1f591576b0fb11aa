import type { Span } from '@opentelemetry/api';
import type { RunBuild } from './plan-run.js';

/** A build handed to the queue and not yet settled. */
export interface Flight {
  readonly attempt: number;
  readonly span: Span;
  /** The agent that started it, once one has. */
  agent?: string;
  /** The last transient fault an agent reported (the reason when it runs out of deliveries). */
  lastFault?: string;
}

/** The builds in flight, and how many per arch (what dispatch compares to the agents' slots). */
export class Flights {
  readonly #flights = new Map<string, Flight>();
  readonly #perArch = new Map<string, number>();

  start(b: RunBuild, attempt: number, span: Span): Flight {
    const f: Flight = { attempt, span };
    this.#flights.set(b.id, f);
    this.#perArch.set(b.arch, (this.#perArch.get(b.arch) ?? 0) + 1);
    return f;
  }

  get(id: string): Flight | undefined {
    return this.#flights.get(id);
  }

  /** Takes `b` out of flight (its build span is the caller's to end); undefined when it was not. */
  land(b: RunBuild): Flight | undefined {
    const f = this.#flights.get(b.id);
    if (f) {
      this.#flights.delete(b.id);
      this.#perArch.set(b.arch, (this.#perArch.get(b.arch) ?? 1) - 1);
    }
    return f;
  }

  inFlight(arch: string): number {
    return this.#perArch.get(arch) ?? 0;
  }

  /** Ends the spans of builds still in flight (a run that stopped or failed). */
  endSpans(): void {
    for (const f of this.#flights.values()) f.span.end();
  }
}
