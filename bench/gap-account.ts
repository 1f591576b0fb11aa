/**
 * Where a run's time went, from the coordinator's events (one monotonic clock, this process):
 * per build, ready (its last dependency's `succeeded`, or the first dispatch of the run) →
 * dispatched → started (the agent's event back) → build (the agent's reported duration) →
 * `succeeded` (report hop + publish + records). The wait between ready and dispatched is split
 * by whether the arch's slots were all busy when the build became ready (waiting for a slot) or
 * not (release latency: index visible → dependent dispatched).
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

function segments(t: Required<Times>, ready: number, busyAtReady: boolean): Record<Segment, number> {
  const wait = Math.max(0, t.dispatched - ready);
  return {
    'slot wait': busyAtReady ? wait : 0,
    'release → dispatch': busyAtReady ? 0 : wait,
    'dispatch → start': t.started - t.dispatched,
    build: t.durationMs,
    'end → published': t.succeeded - t.started - t.durationMs,
  };
}

/** The account as printable lines; `start` is when the run was called. */
export function gapAccount(
  builds: readonly GapBuild[],
  times: ReadonlyMap<string, Times>,
  o: { start: number; makespan: number; lowerBound: number; slots: number },
): string[] {
  const done = builds.filter((b) => {
    const t = times.get(b.id);
    return t?.dispatched !== undefined && t.started !== undefined && t.succeeded !== undefined;
  });
  const tm = (id: string) => times.get(id) as Required<Times>;
  let firstDispatch = Number.POSITIVE_INFINITY;
  for (const b of done) firstDispatch = Math.min(firstDispatch, tm(b.id).dispatched);
  // In flight per arch over time, from dispatch/succeeded instants, to judge "all slots busy".
  const marks = new Map<string, { at: number; d: number }[]>();
  for (const b of done) {
    const list = marks.get(b.arch) ?? [];
    list.push({ at: tm(b.id).dispatched, d: 1 }, { at: tm(b.id).succeeded, d: -1 });
    marks.set(b.arch, list);
  }
  const inFlightAt = new Map<string, (at: number) => number>();
  for (const [arch, list] of marks) {
    list.sort((a, b) => a.at - b.at || a.d - b.d);
    const at = list.map((m) => m.at);
    const level: number[] = [];
    let k = 0;
    for (const m of list) {
      k += m.d;
      level.push(k);
    }
    inFlightAt.set(arch, (x) => {
      let lo = 0;
      let hi = at.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (at[mid]! <= x) lo = mid + 1;
        else hi = mid;
      }
      return lo === 0 ? 0 : level[lo - 1]!;
    });
  }
  const inRun = new Set(done.map((b) => b.id));
  const readyOf = (b: GapBuild): { at: number; via?: string } => {
    let at = firstDispatch;
    let via: string | undefined;
    for (const d of b.deps) {
      if (!inRun.has(d)) continue;
      const s = tm(d).succeeded;
      if (s > at) {
        at = s;
        via = d;
      }
    }
    return via === undefined ? { at } : { at, via };
  };
  const total: Record<Segment, number> = Object.fromEntries(SEGMENTS.map((s) => [s, 0])) as Record<
    Segment,
    number
  >;
  const segOf = new Map<string, Record<Segment, number>>();
  const via = new Map<string, string | undefined>();
  for (const b of done) {
    const r = readyOf(b);
    via.set(b.id, r.via);
    // Busy: the arch's slots were full just before the build could have gone.
    const seg = segments(tm(b.id), r.at, inFlightAt.get(b.arch)!(r.at) >= o.slots);
    segOf.set(b.id, seg);
    for (const s of SEGMENTS) total[s] += seg[s];
  }
  // The actual critical path, back from the last build to publish: a build that waited for a
  // slot was held up by the build whose publish freed it (the latest of its arch to publish
  // before it went), otherwise by the dependency whose publish released it.
  const byArch = new Map<string, GapBuild[]>();
  for (const b of done) byArch.set(b.arch, [...(byArch.get(b.arch) ?? []), b]);
  const slotFreer = (b: GapBuild): string | undefined => {
    let best: GapBuild | undefined;
    const d = tm(b.id).dispatched;
    for (const x of byArch.get(b.arch)!) {
      const s = tm(x.id).succeeded;
      if (x !== b && s <= d && (!best || s > tm(best.id).succeeded)) best = x;
    }
    return best?.id;
  };
  let last: GapBuild | undefined;
  for (const b of done) if (!last || tm(b.id).succeeded > tm(last.id).succeeded) last = b;
  const byId = new Map(done.map((b) => [b.id, b]));
  // Along the path each wait runs from the predecessor's publish, so the segments add up to the
  // time from the first dispatch to the last publish.
  const chain: string[] = [];
  const onPath: Record<Segment, number> = Object.fromEntries(SEGMENTS.map((x) => [x, 0])) as Record<
    Segment,
    number
  >;
  let viaSlot = 0;
  for (let id = last?.id; id !== undefined; ) {
    chain.push(id);
    const t = tm(id);
    const bySlot = segOf.get(id)!['slot wait'] > 0;
    const pred = bySlot ? slotFreer(byId.get(id)!) : via.get(id);
    const wait = t.dispatched - (pred === undefined ? firstDispatch : tm(pred).succeeded);
    if (bySlot) viaSlot++;
    onPath[bySlot ? 'slot wait' : 'release → dispatch'] += Math.max(0, wait);
    onPath['dispatch → start'] += t.started - t.dispatched;
    onPath.build += t.durationMs;
    onPath['end → published'] += t.succeeded - t.started - t.durationMs;
    id = pred;
  }
  const ms = (x: number) => `${(x / 1000).toFixed(2)}s`;
  const n = Math.max(1, done.length);
  const end = last ? tm(last.id).succeeded : o.start;
  return [
    `  gap: makespan ${ms(o.makespan)} − lower bound ${ms(o.lowerBound)} = ${ms(o.makespan - o.lowerBound)}`,
    `  run start → first dispatch ${ms(firstDispatch - o.start)}; last publish → run returned ${ms(o.start + o.makespan - end)}`,
    `  per build (mean over ${done.length}): ${SEGMENTS.map((s) => `${s} ${(total[s] / n).toFixed(1)} ms`).join(', ')}`,
    `  actual critical path (${chain.length} builds, ${viaSlot} of them held by a slot, ${chain
      .slice(-1)
      .concat(chain.length > 1 ? ['…', chain[0]!] : [])
      .join(' → ')}): ${SEGMENTS.map((s) => `${s} ${ms(onPath[s])}`).join(', ')}`,
    `  overhead on that path (all but build): ${ms(SEGMENTS.filter((s) => s !== 'build').reduce((x, s) => x + onPath[s], 0))} = ${(
      SEGMENTS.filter((s) => s !== 'build').reduce((x, s) => x + onPath[s], 0) / Math.max(1, chain.length)
    ).toFixed(1)} ms per build on it`,
  ];
}
