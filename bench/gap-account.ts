/**
 * Where a run's time went, from the coordinator's events (one monotonic clock, this process):
 * per build, ready (its last dependency's `succeeded`, or the first dispatch of the run) →
 * dispatched → started (the agent's event back) → build (the agent's reported duration) →
 * `succeeded` (report hop + publish + records). The wait between ready and dispatched is split
 * over time: while every slot of the arch was taken it is waiting for a slot, otherwise it is
 * release latency (index visible → dependent dispatched: the pump, the priority queue, the
 * event loop). A slot counts as taken from `dispatched` to `succeeded` (a little longer than the
 * coordinator holds it: its records are written before the event).
 */
export interface Times {
  dispatched?: number;
  started?: number;
  succeeded?: number;
  durationMs?: number;
}

interface GapBuild {
  readonly id: string;
  readonly arch: string;
  readonly deps: readonly string[];
}

const SEGMENTS = ['slot wait', 'release → dispatch', 'dispatch → start', 'build', 'end → published'] as const;
type Segment = (typeof SEGMENTS)[number];
type Account = Record<Segment, number>;
const zero = (): Account => Object.fromEntries(SEGMENTS.map((s) => [s, 0])) as Account;

/** Slots taken over time in one arch: how much of [from, to) had every slot taken. */
class Occupancy {
  readonly #at: number[] = [];
  readonly #level: number[] = [];

  constructor(
    spans: readonly [number, number][],
    readonly slots: number,
  ) {
    const marks = spans.flatMap(([a, b]) => [
      { at: a, d: 1 },
      { at: b, d: -1 },
    ]);
    marks.sort((x, y) => x.at - y.at || x.d - y.d);
    let k = 0;
    for (const m of marks) {
      k += m.d;
      this.#at.push(m.at);
      this.#level.push(k);
    }
  }

  busy(from: number, to: number): number {
    const at = this.#at;
    let lo = 0;
    let hi = at.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (at[mid]! <= from) lo = mid + 1;
      else hi = mid;
    }
    let level = lo === 0 ? 0 : this.#level[lo - 1]!;
    let t = from;
    let busy = 0;
    for (let i = lo; i < at.length && t < to; i++) {
      const next = Math.min(at[i]!, to);
      if (level >= this.slots) busy += next - t;
      t = next;
      level = this.#level[i]!;
    }
    if (t < to && level >= this.slots) busy += to - t;
    return busy;
  }
}

/** The account as printable lines; `start` is when the run was called. */
export function gapAccount(
  builds: readonly GapBuild[],
  times: ReadonlyMap<string, Times>,
  o: {
    start: number;
    makespan: number;
    lowerBound: number;
    slots: number;
    /** The run's start-up phases as they ended, in order (name, time). */
    phases?: readonly (readonly [string, number])[];
  },
): string[] {
  const done = builds.filter((b) => {
    const t = times.get(b.id);
    return t?.dispatched !== undefined && t.started !== undefined && t.succeeded !== undefined;
  });
  const tm = (id: string) => times.get(id) as Required<Times>;
  let firstDispatch = Number.POSITIVE_INFINITY;
  for (const b of done) firstDispatch = Math.min(firstDispatch, tm(b.id).dispatched);
  const byArch = new Map<string, GapBuild[]>();
  for (const b of done) byArch.set(b.arch, [...(byArch.get(b.arch) ?? []), b]);
  const occupancy = new Map<string, Occupancy>();
  for (const [arch, bs] of byArch)
    occupancy.set(
      arch,
      new Occupancy(
        bs.map((b) => [tm(b.id).dispatched, tm(b.id).succeeded]),
        o.slots,
      ),
    );

  const inRun = new Set(done.map((b) => b.id));
  /** The dependency whose publish released `b`, and when (the first dispatch when none). */
  const release = (b: GapBuild): { at: number; via?: string } => {
    let at = firstDispatch;
    let via: string | undefined;
    for (const d of b.deps) {
      if (inRun.has(d) && tm(d).succeeded > at) {
        at = tm(d).succeeded;
        via = d;
      }
    }
    return via === undefined ? { at } : { at, via };
  };
  const account = (b: GapBuild, from: number): Account => {
    const t = tm(b.id);
    const wait = Math.max(0, t.dispatched - from);
    const busy = Math.min(wait, occupancy.get(b.arch)!.busy(from, t.dispatched));
    return {
      'slot wait': busy,
      'release → dispatch': wait - busy,
      'dispatch → start': t.started - t.dispatched,
      build: t.durationMs,
      'end → published': t.succeeded - t.started - t.durationMs,
    };
  };

  const total = zero();
  for (const b of done) {
    const a = account(b, release(b).at);
    for (const s of SEGMENTS) total[s] += a[s];
  }

  // The actual critical path, back from the last build to publish: a build released by a
  // dependency's publish but dispatched after every slot had been taken was held up by the build
  // that freed the slot it got (the latest of its arch to publish before it went).
  const slotFreer = (b: GapBuild): GapBuild | undefined => {
    let best: GapBuild | undefined;
    const d = tm(b.id).dispatched;
    for (const x of byArch.get(b.arch)!) {
      const s = tm(x.id).succeeded;
      if (x !== b && s <= d && (!best || s > tm(best.id).succeeded)) best = x;
    }
    return best;
  };
  const byId = new Map(done.map((b) => [b.id, b]));
  let last: GapBuild | undefined;
  for (const b of done) if (!last || tm(b.id).succeeded > tm(last.id).succeeded) last = b;
  const onPath = zero();
  const chain: string[] = [];
  let viaSlot = 0;
  for (let b = last; b !== undefined; ) {
    chain.push(b.id);
    const r = release(b);
    const freer = slotFreer(b);
    const bySlot = freer !== undefined && tm(freer.id).succeeded > r.at && account(b, r.at)['slot wait'] > 0;
    const pred = bySlot ? freer : r.via === undefined ? undefined : byId.get(r.via);
    // Each wait runs from the predecessor's publish: the path's segments add up to first
    // dispatch → last publish.
    const a = account(b, pred ? tm(pred.id).succeeded : firstDispatch);
    for (const s of SEGMENTS) onPath[s] += a[s];
    if (bySlot) viaSlot++;
    b = pred;
  }
  const ms = (x: number) => `${(x / 1000).toFixed(2)}s`;
  const n = Math.max(1, done.length);
  const end = last ? tm(last.id).succeeded : o.start;
  const overhead = SEGMENTS.filter((s) => s !== 'build').reduce((x, s) => x + onPath[s], 0);
  // Each phase from the end of the one before; the last, from set-up to the first dispatch.
  let prev = o.start;
  const phases = [...(o.phases ?? []), ['first dispatch', firstDispatch] as const].map(([name, at]) => {
    const d = at - prev;
    prev = at;
    return `${name} ${ms(d)}`;
  });
  return [
    `  gap: makespan ${ms(o.makespan)} − lower bound ${ms(o.lowerBound)} = ${ms(o.makespan - o.lowerBound)}`,
    `  run start → first dispatch ${ms(firstDispatch - o.start)}; last publish → run returned ${ms(o.start + o.makespan - end)}`,
    `  planning/setup (each phase from the end of the one before): ${phases.join(', ')}`,
    `  per build (mean over ${done.length}): ${SEGMENTS.map((s) => `${s} ${(total[s] / n).toFixed(1)} ms`).join(', ')}`,
    `  actual critical path (${chain.length} builds, ${viaSlot} held by a slot; ${chain.at(-1)} … ${chain[0]}): ${SEGMENTS.map((s) => `${s} ${ms(onPath[s])}`).join(', ')}`,
    `  overhead on that path (all but build): ${ms(overhead)} = ${(overhead / Math.max(1, chain.length)).toFixed(1)} ms per build on it`,
  ];
}
