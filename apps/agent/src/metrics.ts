import type { NatsConnection } from '@nats-io/transport-node';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Build durations: seconds to six hours. */
const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600];

interface SlotSource {
  readonly arch: string;
  readonly slots: number;
  readonly busy: number;
}

/**
 * An agent's Prometheus metrics: builds by result, their durations, BuildKit vertices run and
 * cached, slots busy and free, NATS reconnects.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly #builds: Counter<'state' | 'arch'>;
  readonly #duration: Histogram<'state' | 'arch'>;
  readonly #vertices: Counter<'arch' | 'cached'>;
  readonly #reconnects: Counter;
  readonly #agents: SlotSource[] = [];

  constructor() {
    const registers = [this.registry];
    this.#builds = new Counter({
      name: 'melange2_agent_builds_total',
      help: 'Builds this agent finished, by result (succeeded, failed, transient, cancelled) and arch',
      labelNames: ['state', 'arch'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'melange2_agent_build_duration_seconds',
      help: 'Time from taking a build to its result',
      labelNames: ['state', 'arch'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#vertices = new Counter({
      name: 'melange2_agent_buildkit_vertices_total',
      help: 'BuildKit vertices of succeeded builds, cached="true" for those the daemon had cached',
      labelNames: ['arch', 'cached'],
      registers,
    });
    this.#reconnects = new Counter({
      name: 'melange2_nats_reconnects_total',
      help: 'Times the NATS connection was re-established',
      registers,
    });
    const agents = this.#agents;
    new Gauge({
      name: 'melange2_agent_slots',
      help: 'Build slots, by state (busy, free) and arch',
      labelNames: ['state', 'arch'],
      registers,
      collect() {
        this.reset();
        for (const a of agents) {
          this.inc({ state: 'busy', arch: a.arch }, a.busy);
          this.inc({ state: 'free', arch: a.arch }, Math.max(0, a.slots - a.busy));
        }
      },
    });
  }

  /** Slots of this agent are reported when scraped. */
  watch(agent: SlotSource): void {
    this.#agents.push(agent);
  }

  /** Counts the reconnects of a connection (until it closes). */
  watchNats(nc: NatsConnection): void {
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'reconnect') this.#reconnects.inc();
    })().catch(() => undefined);
  }

  finished(
    arch: string,
    state: 'succeeded' | 'failed' | 'transient' | 'cancelled',
    seconds: number,
    steps?: { readonly total: number; readonly cached: number },
  ): void {
    this.#builds.inc({ state, arch });
    this.#duration.observe({ state, arch }, seconds);
    if (steps) {
      this.#vertices.inc({ arch, cached: 'true' }, steps.cached);
      this.#vertices.inc({ arch, cached: 'false' }, steps.total - steps.cached);
    }
  }
}
