import type { NatsConnection } from '@nats-io/transport-node';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunPlan } from '../run/plan-run.js';
import type { RunEvent } from '../run/run-types.js';
import { Readiness } from './readiness.js';

/** Seconds, from a dispatch that is picked up at once to a build of six hours. */
const WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600];
const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600];
const PUBLISH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Where the slots of each arch's agents come from (the coordinator's heartbeat registry). */
export type CapacityOf = (arch: string) => number;

/**
 * A run's Prometheus metrics, kept from its events: builds by final state and arch, ready,
 * waiting and running builds per arch, queue wait (ready → dispatched), dispatch latency
 * (dispatched → started on an agent), build duration, BuildKit cache hits, agent slots,
 * publish latency and index generation, NATS reconnects.
 */
export class RunMetrics {
  readonly registry = new Registry();
  readonly #builds: Counter<'state' | 'arch'>;
  readonly #retries: Counter<'arch'>;
  readonly #queueWait: Histogram<'arch'>;
  readonly #dispatch: Histogram<'arch'>;
  readonly #duration: Histogram<'state' | 'arch'>;
  readonly #vertices: Counter<'arch' | 'cached'>;
  readonly #publish: Histogram<'arch'>;
  readonly #generation: Gauge<'arch'>;
  readonly #reconnects: Counter;
  readonly #ready = new Readiness();
  readonly #cache = new Map<string, { total: number; cached: number }>();
  #capacity: CapacityOf = () => 0;

  constructor() {
    const registers = [this.registry];
    this.#builds = new Counter({
      name: 'melange2_builds_total',
      help: 'Builds of the run by final state (succeeded, failed, skipped, up_to_date, refused) and arch',
      labelNames: ['state', 'arch'],
      registers,
    });
    this.#retries = new Counter({
      name: 'melange2_build_retries_total',
      help: 'Transient faults and refused reports that sent a build back to the queue',
      labelNames: ['arch'],
      registers,
    });
    this.#queueWait = new Histogram({
      name: 'melange2_queue_wait_seconds',
      help: 'Time a build was ready (its dependencies published) before it was dispatched: capacity starvation',
      labelNames: ['arch'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.#dispatch = new Histogram({
      name: 'melange2_dispatch_latency_seconds',
      help: 'Time from dispatch to an agent starting the build',
      labelNames: ['arch'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.#duration = new Histogram({
      name: 'melange2_build_duration_seconds',
      help: 'Time an agent spent on a build, by result',
      labelNames: ['state', 'arch'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#vertices = new Counter({
      name: 'melange2_buildkit_vertices_total',
      help: 'BuildKit vertices of succeeded builds; cached="true" for those the daemon had cached',
      labelNames: ['arch', 'cached'],
      registers,
    });
    this.#publish = new Histogram({
      name: 'melange2_publish_duration_seconds',
      help: 'Time to verify, upload and index the packages of a build',
      labelNames: ['arch'],
      buckets: PUBLISH_BUCKETS,
      registers,
    });
    this.#generation = new Gauge({
      name: 'melange2_index_generation',
      help: 'Revision of the APKINDEX last published for the arch',
      labelNames: ['arch'],
      registers,
    });
    this.#reconnects = new Counter({
      name: 'melange2_nats_reconnects_total',
      help: 'Times the NATS connection was re-established',
      registers,
    });
    const ready = this.#ready;
    const cache = this.#cache;
    const capacity = () => this.#capacity;
    const perArch = (name: string, help: string, count: (arch: string) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['arch'],
        registers,
        collect() {
          for (const arch of ready.arches()) this.set({ arch }, count(arch));
        },
      });
    perArch('melange2_builds_ready', 'Builds whose dependencies are published, waiting for a slot', (a) =>
      ready.count(a, 'ready'),
    );
    perArch('melange2_builds_waiting', 'Builds waiting for dependencies to be published', (a) =>
      ready.count(a, 'blocked'),
    );
    perArch('melange2_builds_running', 'Builds dispatched to agents and not settled yet', (a) =>
      ready.count(a, 'running'),
    );
    perArch(
      'melange2_cache_hit_ratio',
      'BuildKit vertices cached / total over the run\u2019s succeeded builds',
      (a) => {
        const c = cache.get(a);
        return c && c.total > 0 ? c.cached / c.total : 0;
      },
    );
    new Gauge({
      name: 'melange2_agent_slots',
      help: 'Build slots of live agents by state (busy, free) and arch, from their heartbeats',
      labelNames: ['state', 'arch'],
      registers,
      collect() {
        for (const arch of ready.arches()) {
          const total = capacity()(arch);
          const busy = Math.min(total, ready.count(arch, 'running'));
          this.set({ state: 'busy', arch }, busy);
          this.set({ state: 'free', arch }, total - busy);
        }
      },
    });
  }

  /** A run begins: its builds and what was up to date already. */
  plan(plan: RunPlan, capacity?: CapacityOf): void {
    if (capacity) this.#capacity = capacity;
    this.#ready.plan(plan.builds);
    for (const u of plan.upToDate)
      this.#builds.inc({ state: 'up_to_date', arch: u.id.slice(u.id.lastIndexOf('@') + 1) });
    for (const arch of new Set(plan.builds.map((b) => b.arch)))
      for (const state of ['succeeded', 'failed', 'skipped', 'up_to_date', 'refused'])
        this.#builds.inc({ state, arch }, 0);
  }

  /** Counts the reconnects of a connection (until it closes). */
  watchNats(nc: NatsConnection): void {
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'reconnect') this.#reconnects.inc();
    })().catch(() => undefined);
  }

  /** A report refused for good: the build goes again, or is given up as `refused`. */
  #refused(e: Extract<RunEvent, { type: 'refused' }>): void {
    if (!e.build) return;
    const arch = e.build.arch;
    if (e.outcome === 'redispatched') {
      this.#retries.inc({ arch });
      this.#ready.requeued(e.build.id, performance.now());
    } else if (e.outcome === 'given-up') {
      this.#builds.inc({ state: 'refused', arch });
      this.#ready.settled(e.build.id, false, performance.now());
    }
  }

  /** A publish of one build's packages: how long it took and the index revision it made. */
  published(arch: string, seconds: number, revision: number): void {
    this.#publish.observe({ arch }, seconds);
    this.#generation.set({ arch }, revision);
  }

  observe(e: RunEvent): void {
    if (e.type === 'no-agents') return;
    if (e.type === 'refused') {
      this.#refused(e);
      return;
    }
    const arch = e.build.arch;
    const id = e.build.id;
    const now = performance.now();
    switch (e.type) {
      case 'dispatched': {
        const waited = this.#ready.dispatched(id, now);
        if (waited !== undefined) this.#queueWait.observe({ arch }, waited / 1000);
        return;
      }
      case 'started': {
        const latency = this.#ready.started(id, now);
        if (latency !== undefined) this.#dispatch.observe({ arch }, latency / 1000);
        return;
      }
      case 'transient':
        this.#retries.inc({ arch });
        this.#ready.requeued(id, now);
        return;
      case 'waiting':
        // Counted as ready again (the gauges know declared dependencies only).
        this.#ready.requeued(id, now);
        return;
      case 'succeeded': {
        this.#builds.inc({ state: 'succeeded', arch });
        this.#duration.observe({ state: 'succeeded', arch }, e.durationMs / 1000);
        this.#vertices.inc({ arch, cached: 'true' }, e.steps.cached);
        this.#vertices.inc({ arch, cached: 'false' }, e.steps.total - e.steps.cached);
        const c = this.#cache.get(arch) ?? { total: 0, cached: 0 };
        c.total += e.steps.total;
        c.cached += e.steps.cached;
        this.#cache.set(arch, c);
        this.#ready.settled(id, true, now);
        return;
      }
      case 'cut-off':
        this.#builds.inc({ state: 'up_to_date', arch });
        this.#ready.settled(id, true, now);
        return;
      case 'failed': {
        this.#builds.inc({ state: 'failed', arch });
        const ran = this.#ready.runningFor(id, now);
        if (ran !== undefined) this.#duration.observe({ state: 'failed', arch }, ran / 1000);
        this.#ready.settled(id, false, now);
        return;
      }
      case 'skipped':
        this.#builds.inc({ state: 'skipped', arch });
        this.#ready.settled(id, false, now);
        return;
    }
  }
}
