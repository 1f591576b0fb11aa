import { criticalPath, execMs } from './critical-path.js';
import { BUILD_PHASES, type BuildPhase, type RunTimeline, type TimelineBuild } from './timeline-types.js';

/** What the dashboard shows of a run, computed from its timeline (pure; the browser runs it too). */

interface ArchWait {
  readonly arch: string;
  /** Builds that started. */
  readonly started: number;
  /** ready → started, summed (ms): capacity starvation. */
  readonly waitMs: number;
  /** started → finished, summed (ms). */
  readonly execMs: number;
  readonly waitP50: number;
  readonly waitP95: number;
  readonly waitMax: number;
}

interface HeldUp {
  readonly id: string;
  /** Builds (transitively) that were waiting for this one last. */
  readonly dependents: number;
  /** How long its direct dependents waited for it after their other dependencies were done (ms). */
  readonly heldMs: number;
}

export interface Lane {
  /** `<agent>#<slot>`. */
  readonly key: string;
  readonly agent: string;
  readonly arch: string;
  readonly slot: number;
}

export interface RunAnalysis {
  readonly counts: ReadonlyMap<string, Readonly<Record<BuildPhase, number>>>;
  readonly waits: readonly ArchWait[];
  readonly cache: {
    readonly cached: number;
    readonly total: number;
    readonly upToDate: number;
    readonly builds: number;
  };
  readonly slowest: readonly TimelineBuild[];
  readonly heldUp: readonly HeldUp[];
  readonly critical: {
    readonly ids: ReadonlySet<string>;
    readonly chain: readonly string[];
    readonly ms: number;
  };
  readonly lanes: readonly Lane[];
  readonly agentBusyMs: ReadonlyMap<string, number>;
  /** Earliest and latest time of the run (ms since epoch). */
  readonly span: { readonly from: number; readonly to: number };
}

/** Time from ready (or dispatched) to started: how long it waited for a free slot. */
export function waitMs(b: TimelineBuild): number | undefined {
  const from = b.readyAt ?? b.dispatchedAt;
  return from !== undefined && b.startedAt !== undefined ? Math.max(0, b.startedAt - from) : undefined;
}

const emptyCounts = () => Object.fromEntries(BUILD_PHASES.map((p) => [p, 0])) as Record<BuildPhase, number>;

const pct = (sorted: readonly number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : 0;

export function analyse(t: RunTimeline, now = Date.now()): RunAnalysis {
  const counts = new Map<string, Record<BuildPhase, number>>();
  const countsOf = (arch: string) => {
    const c = counts.get(arch) ?? emptyCounts();
    counts.set(arch, c);
    return c;
  };
  for (const a of t.arches) countsOf(a);
  for (const b of t.builds) countsOf(b.arch)[b.state]++;
  for (const u of t.upToDate) countsOf(u.id.slice(u.id.lastIndexOf('@') + 1))['up-to-date']++;

  const waits: ArchWait[] = [];
  for (const arch of counts.keys()) {
    const ws: number[] = [];
    let ex = 0;
    for (const b of t.builds) {
      if (b.arch !== arch) continue;
      const w = waitMs(b);
      if (w !== undefined) ws.push(w);
      ex += execMs(b);
    }
    ws.sort((x, y) => x - y);
    waits.push({
      arch,
      started: ws.length,
      waitMs: ws.reduce((s, w) => s + w, 0),
      execMs: ex,
      waitP50: pct(ws, 50),
      waitP95: pct(ws, 95),
      waitMax: ws.at(-1) ?? 0,
    });
  }

  let cached = 0;
  let total = 0;
  let upToDate = t.upToDate.length;
  for (const b of t.builds) {
    cached += b.steps?.cached ?? 0;
    total += b.steps?.total ?? 0;
    if (b.state === 'up-to-date') upToDate++;
  }

  const slowest = t.builds
    .filter((b) => execMs(b) > 0)
    .sort((x, y) => execMs(y) - execMs(x))
    .slice(0, 20);

  const cp = criticalPath(t.builds);
  const lanes = lanesOf(t);
  const agentBusyMs = new Map<string, number>();
  for (const b of t.builds)
    if (b.agent !== undefined && b.startedAt !== undefined)
      agentBusyMs.set(b.agent, (agentBusyMs.get(b.agent) ?? 0) + ((b.finishedAt ?? now) - b.startedAt));

  let to = t.finishedAt ?? t.startedAt;
  for (const b of t.builds) to = Math.max(to, b.finishedAt ?? (b.startedAt !== undefined ? now : to));
  return {
    counts,
    waits,
    cache: { cached, total, upToDate, builds: t.builds.length + t.upToDate.length },
    slowest,
    heldUp: heldUpOf(t.builds),
    critical: { ids: new Set(cp.ids), chain: cp.ids, ms: cp.ms },
    lanes,
    agentBusyMs,
    span: { from: t.startedAt, to },
  };
}

/** One lane per agent slot that ran something, by arch, agent and slot. */
function lanesOf(t: RunTimeline): Lane[] {
  const seen = new Map<string, Lane>();
  for (const b of t.builds) {
    if (b.agent === undefined || b.startedAt === undefined) continue;
    const slot = b.slot ?? 0;
    const key = `${b.agent}#${slot}`;
    if (!seen.has(key)) seen.set(key, { key, agent: b.agent, arch: b.arch, slot });
  }
  return [...seen.values()].sort(
    (x, y) => x.arch.localeCompare(y.arch) || x.agent.localeCompare(y.agent) || x.slot - y.slot,
  );
}

/**
 * The builds that held up the most: a build "gates" a dependent when it was that dependent's
 * last dependency to finish. Counted transitively along gating edges, with the time the direct
 * dependents waited for it after their other dependencies were done.
 */
function heldUpOf(builds: readonly TimelineBuild[]): HeldUp[] {
  const byId = new Map(builds.map((b) => [b.id, b]));
  const gated = new Map<string, string[]>();
  const held = new Map<string, number>();
  for (const b of builds) {
    let last: TimelineBuild | undefined;
    let second = Number.NEGATIVE_INFINITY;
    for (const d of b.deps) {
      const db = byId.get(d);
      if (db?.finishedAt === undefined) continue;
      if (!last || db.finishedAt > last.finishedAt!) {
        if (last) second = Math.max(second, last.finishedAt!);
        last = db;
      } else second = Math.max(second, db.finishedAt);
    }
    if (!last) continue;
    const list = gated.get(last.id);
    if (list) list.push(b.id);
    else gated.set(last.id, [b.id]);
    const since = Number.isFinite(second) ? second : (last.startedAt ?? last.finishedAt!);
    held.set(last.id, (held.get(last.id) ?? 0) + Math.max(0, last.finishedAt! - since));
  }
  // Gating edges form a forest (one gate per build): subtree sizes, iteratively.
  const size = new Map<string, number>();
  const sizeOf = (root: string): number => {
    const order: string[] = [];
    const stack = [root];
    while (stack.length) {
      const id = stack.pop()!;
      if (size.has(id)) continue;
      order.push(id);
      for (const c of gated.get(id) ?? []) if (!size.has(c)) stack.push(c);
    }
    for (let i = order.length - 1; i >= 0; i--) {
      const id = order[i]!;
      let n = 0;
      for (const c of gated.get(id) ?? []) n += 1 + (size.get(c) ?? 0);
      size.set(id, n);
    }
    return size.get(root)!;
  };
  const out: HeldUp[] = [];
  for (const id of gated.keys()) out.push({ id, dependents: sizeOf(id), heldMs: held.get(id) ?? 0 });
  return out.sort((x, y) => y.dependents - x.dependents || y.heldMs - x.heldMs).slice(0, 20);
}
