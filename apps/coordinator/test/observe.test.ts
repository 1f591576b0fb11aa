import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  analyse,
  chromeTrace,
  criticalPath,
  FileRunStore,
  findRun,
  type RunTimeline,
  type TimelineBuild,
  TimelineRecorder,
} from '@melange2/coordinator/internal';
import type { RunBuild, RunPlan } from '@melange2/coordinator';
import { afterAll, describe, expect, it } from 'vitest';

const T0 = 1_700_000_000_000;

/** A finished build that ran from `start` to `end` (s after T0) on `agent` slot `slot`. */
function ran(id: string, deps: string[], start: number, end: number, agent = 'a1', slot = 0): TimelineBuild {
  const [name, arch] = id.split('@') as [string, string];
  return {
    id,
    name,
    arch,
    version: '1.0.0-r0',
    deps,
    state: 'succeeded',
    readyAt: T0,
    dispatchedAt: T0 + start * 1000,
    startedAt: T0 + start * 1000,
    finishedAt: T0 + end * 1000,
    agent,
    slot,
    attempts: 1,
    steps: { total: 10, cached: 4 },
  };
}

function timeline(builds: TimelineBuild[]): RunTimeline {
  return {
    version: 1,
    runId: '20261207T120000-abcdef',
    repo: '/repo',
    arches: ['x86_64'],
    status: 'finished',
    startedAt: T0,
    finishedAt: T0 + 100_000,
    builds,
    upToDate: [{ id: 'old@x86_64', version: '1' }],
    agents: [{ id: 'a1', arch: 'x86_64', slots: 2, lastHeartbeat: T0, alive: true }],
  };
}

describe('criticalPath', () => {
  it('is the chain with the longest sum of real durations, not the most builds', () => {
    // a(10) → b(1) → c(1) → e(1), and a(10) → d(30) → e(1): a, d, e (41 s).
    const cp = criticalPath([
      ran('a@x86_64', [], 0, 10),
      ran('b@x86_64', ['a@x86_64'], 10, 11),
      ran('c@x86_64', ['b@x86_64'], 11, 12),
      ran('d@x86_64', ['a@x86_64'], 10, 40, 'a1', 1),
      ran('e@x86_64', ['c@x86_64', 'd@x86_64'], 40, 41),
    ]);
    expect(cp.ids).toEqual(['a@x86_64', 'd@x86_64', 'e@x86_64']);
    expect(cp.ms).toBe(41_000);
  });

  it('counts builds that did not run as 0, ignores deps outside the run and leaves cycles out', () => {
    const skipped: TimelineBuild = { ...ran('s@x86_64', ['x@x86_64'], 0, 0), state: 'skipped' };
    delete skipped.startedAt;
    const cp = criticalPath([
      ran('x@x86_64', ['elsewhere@x86_64'], 0, 5),
      skipped,
      ran('c1@x86_64', ['c2@x86_64'], 0, 50),
      ran('c2@x86_64', ['c1@x86_64'], 0, 50),
    ]);
    expect(cp.ids).toEqual(['x@x86_64']);
    expect(cp.ms).toBe(5000);
    expect(criticalPath([])).toEqual({ ids: [], ms: 0 });
  });

  it('stays linear on a long chain (no recursion limit)', () => {
    const n = 50_000;
    const builds = Array.from({ length: n }, (_, i) =>
      ran(`p${i}@x86_64`, i ? [`p${i - 1}@x86_64`] : [], i, i + 1),
    );
    const cp = criticalPath(builds);
    expect(cp.ids).toHaveLength(n);
    expect(cp.ms).toBe(n * 1000);
  });
});

describe('analyse', () => {
  it('counts per arch and state, queue wait, cache ratio, slowest and who held up dependents', () => {
    const a = ran('a@x86_64', [], 5, 20);
    const b = ran('b@x86_64', ['a@x86_64'], 30, 35); // ready at 20 s, started at 30 s: 10 s wait
    b.readyAt = T0 + 20_000;
    const c = ran('c@x86_64', ['b@x86_64'], 35, 36);
    c.readyAt = T0 + 35_000;
    const f: TimelineBuild = { ...ran('f@x86_64', [], 0, 2, 'a1', 1), state: 'failed', reason: 'boom' };
    const r = analyse(timeline([a, b, c, f]));
    expect(r.counts.get('x86_64')).toMatchObject({ succeeded: 3, failed: 1, 'up-to-date': 1 });
    const w = r.waits[0]!;
    expect(w.started).toBe(4);
    expect(w.waitMs).toBe(5000 + 10_000 + 0 + 0);
    expect(w.execMs).toBe(15_000 + 5000 + 1000 + 2000);
    expect(r.cache).toEqual({ cached: 16, total: 40, upToDate: 1, builds: 5 });
    expect(r.slowest.map((x) => x.id)).toEqual(['a@x86_64', 'b@x86_64', 'f@x86_64', 'c@x86_64']);
    expect(r.heldUp[0]).toMatchObject({ id: 'a@x86_64', dependents: 2 });
    expect(r.critical.chain).toEqual(['a@x86_64', 'b@x86_64', 'c@x86_64']);
    expect(r.lanes.map((l) => l.key)).toEqual(['a1#0', 'a1#1']);
  });
});

describe('chromeTrace', () => {
  it('a process per arch, a thread per agent slot, an X slice per build that ran; no reason or log text', () => {
    const secret = 's3cr3t-from-vars-file';
    const f: TimelineBuild = {
      ...ran('f@aarch64', [], 0, 2, 'arm', 0),
      stages: [
        { stage: 'environment', at: T0 },
        { stage: 'solve', at: T0 + 500 },
      ],
      state: 'failed',
      reason: `step "echo ${secret}" failed`,
      logTail: [`+ echo ${secret}`],
    };
    const t = {
      ...timeline([ran('a@x86_64', [], 1, 3), ran('b@x86_64', [], 1, 4, 'a1', 1), f]),
      arches: ['x86_64', 'aarch64'],
    };
    const tr = chromeTrace(t);
    const text = JSON.stringify(tr);
    expect(text).not.toContain(secret);
    const slices = tr.traceEvents.filter((e) => e.ph === 'X' && e.cat !== 'stage');
    expect(slices.map((s) => s.name).sort()).toEqual(['a', 'b', 'f']);
    expect(slices.find((s) => s.name === 'a')).toMatchObject({ ts: 1_000_000, dur: 2_000_000, pid: 1 });
    const procs = tr.traceEvents.filter((e) => e.name === 'process_name').map((e) => e.args.name);
    expect(procs).toEqual(['x86_64', 'aarch64']);
    // Stages nest strictly inside their build's slice.
    const stages = tr.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'stage');
    expect(stages.map((s) => [s.name, s.ph === 'X' && s.ts, s.ph === 'X' && s.dur])).toEqual([
      ['environment', 1, 499_999],
      ['solve', 500_000, 1_499_999],
    ]);
    const threads = tr.traceEvents.filter((e) => e.name === 'thread_name').map((e) => e.args.name);
    expect(threads.sort()).toEqual(['a1 slot 0', 'a1 slot 1', 'arm slot 0']);
  });
});

describe('TimelineRecorder', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  const rb = (name: string, deps: string[] = []): RunBuild => ({
    id: `${name}@x86_64`,
    name,
    arch: 'x86_64',
    deps,
    cost: 1,
    reasons: [],
    version: '1-r0',
    configFile: `${name}.yaml`,
    input: name,
    packages: [name],
  });

  const planOf = (builds: RunBuild[], upToDate: RunPlan['upToDate'] = []): RunPlan => ({
    root: '/repo',
    builds,
    upToDate,
    problems: [],
    cycles: [],
    excluded: new Map(),
  });

  it('records ready, dispatched, started and finished times, slots, and writes the timeline to its store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'm2-runs-'));
    dirs.push(dir);
    const store = new FileRunStore(dir);
    let now = T0;
    const a = rb('a');
    const b = rb('b', ['a@x86_64']);
    const c = rb('c');
    const plan = planOf([a, b, c]);
    const rec = new TimelineRecorder({ runId: 'r1', plan, store, now: () => now });
    const seen: string[] = [];
    const updates: unknown[] = [];
    rec.subscribe((u) => {
      seen.push(...u.changed.map((x) => x.id));
      updates.push(JSON.parse(u.json()));
    });
    rec.begin();
    rec.agentEvent({ type: 'heartbeat', agent: 'ag', arch: 'x86_64', slots: 2, busy: 0, alive: true });
    now += 1000;
    rec.event({ type: 'dispatched', build: a, attempt: 1 });
    rec.event({ type: 'dispatched', build: c, attempt: 1 });
    now += 1000;
    rec.event({ type: 'started', build: a, agent: 'ag', attempt: 1 });
    rec.stage('a@x86_64', 'solve');
    rec.stage('nope@x86_64', 'solve');
    rec.event({ type: 'started', build: c, agent: 'ag', attempt: 1 });
    now += 5000;
    rec.event({
      type: 'succeeded',
      build: a,
      agent: 'ag',
      durationMs: 5000,
      packages: [],
      steps: { total: 3, cached: 1 },
    });
    rec.event({ type: 'failed', build: c, reason: 'boom', logTail: ['x', 'y'], agent: 'ag' });
    rec.event({ type: 'dispatched', build: b, attempt: 1 });
    rec.event({ type: 'started', build: b, agent: 'ag', attempt: 1 });
    now += 1000;
    rec.event({
      type: 'succeeded',
      build: b,
      agent: 'ag',
      durationMs: 1000,
      packages: [],
      steps: { total: 2, cached: 2 },
    });
    await rec.finish();
    const t = await findRun(store, undefined);
    const by = new Map(t.builds.map((x) => [x.id, x]));
    expect(by.get('a@x86_64')).toMatchObject({
      state: 'succeeded',
      readyAt: T0,
      dispatchedAt: T0 + 1000,
      startedAt: T0 + 2000,
      finishedAt: T0 + 7000,
      slot: 0,
      steps: { total: 3, cached: 1 },
      stages: [{ stage: 'solve', at: T0 + 2000 }],
    });
    expect(by.get('c@x86_64')).toMatchObject({
      state: 'failed',
      slot: 1,
      reason: 'boom',
      logTail: ['x', 'y'],
    });
    // b was ready when a was published, and took the lowest free slot.
    expect(by.get('b@x86_64')).toMatchObject({ readyAt: T0 + 7000, slot: 0, state: 'succeeded' });
    expect(t.status).toBe('finished');
    expect(t.agents).toMatchObject([{ id: 'ag', slots: 2 }]);
    expect(new Set(seen)).toEqual(new Set(['a@x86_64', 'b@x86_64', 'c@x86_64']));
    // The cached JSON (updates, the stored timeline) is the builds' state when it was made.
    expect(JSON.parse(rec.timelineJson())).toEqual(JSON.parse(JSON.stringify(rec.timeline)));
    expect(t).toEqual(JSON.parse(JSON.stringify(rec.timeline)));
    expect(updates.at(-1)).toMatchObject({ status: 'finished', agents: [{ id: 'ag' }] });
    expect((await store.list()).map((s) => s.runId)).toEqual(['r1']);
  });

  it('a run that stops with builds out on agents ends them cancelled', async () => {
    let now = T0;
    const a = rb('a');
    const c = rb('c');
    const rec = new TimelineRecorder({ runId: 'r2', plan: planOf([a, c, rb('d')]), now: () => now });
    rec.begin();
    rec.event({ type: 'dispatched', build: a, attempt: 1 });
    rec.event({ type: 'dispatched', build: c, attempt: 1 });
    rec.event({ type: 'started', build: a, agent: 'ag', attempt: 1 });
    const before = rec.timelineJson();
    now += 3000;
    await rec.finish();
    expect(JSON.parse(before).builds[0].state).toBe('running');
    const by = new Map(rec.timeline.builds.map((x) => [x.id, x]));
    expect(by.get('a@x86_64')).toMatchObject({ state: 'cancelled', finishedAt: T0 + 3000 });
    expect(by.get('c@x86_64')).toMatchObject({ state: 'cancelled', finishedAt: T0 + 3000 });
    expect(by.get('d@x86_64')?.state).toBe('queued');
    // The cached JSON follows (the stored timeline is made from it).
    expect(JSON.parse(rec.timelineJson())).toEqual(JSON.parse(JSON.stringify(rec.timeline)));
    expect(analyse(rec.timeline).counts.get('x86_64')).toMatchObject({ cancelled: 2 });
  });

  it("takes a succeeded build's stage times from its agent's report (distributed runs)", () => {
    const a = rb('a');
    const rec = new TimelineRecorder({ runId: 'r3', plan: planOf([a]), now: () => T0 + 9000 });
    const report = (stages: { stage: string; at: number }[]) => ({
      runId: 'r3',
      id: 'a@x86_64',
      attempt: 1,
      token: 't',
      agent: 'ag',
      durationMs: 1,
      outcome: { kind: 'succeeded' as const, apks: [], steps: { total: 1, cached: 0 }, stages },
    });
    rec.event({ type: 'dispatched', build: a, attempt: 1 });
    rec.report(report([{ stage: 'solve', at: T0 }]));
    // A new attempt: the earlier attempt's report is forgotten.
    rec.event({ type: 'dispatched', build: a, attempt: 2 });
    rec.report(
      report([
        { stage: 'environment', at: T0 + 1 },
        { stage: 'nope', at: T0 + 2 },
        { stage: 'solve', at: T0 + 3 },
      ]),
    );
    rec.report({ ...report([{ stage: 'solve', at: 0 }]), runId: 'other' });
    rec.event({
      type: 'succeeded',
      build: a,
      agent: 'ag',
      durationMs: 1,
      packages: [],
      steps: { total: 1, cached: 0 },
    });
    expect(rec.timeline.builds[0]?.stages).toEqual([
      { stage: 'environment', at: T0 + 1 },
      { stage: 'solve', at: T0 + 3 },
    ]);
  });

  it('a resumed run keeps its start and the builds it finished before the interruption', () => {
    const before = timeline([ran('a@x86_64', [], 0, 5)]);
    const b = rb('b', ['a@x86_64']);
    const plan = planOf([b], [{ id: 'a@x86_64', version: '1.0.0-r0' }]);
    const rec = new TimelineRecorder({ runId: before.runId, plan, prior: before, now: () => T0 + 60_000 });
    expect(rec.timeline.startedAt).toBe(T0);
    expect(rec.timeline.builds.map((x) => [x.id, x.state])).toEqual([
      ['b@x86_64', 'queued'],
      ['a@x86_64', 'succeeded'],
    ]);
    expect(rec.timeline.upToDate).toEqual([]);
  });

  it('a stored timeline that is not one is a TimelineError naming the file; an unknown run is said', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'm2-runs-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'bad.json'), '{"version":1}');
    const store = new FileRunStore(dir);
    await expect(store.get('bad')).rejects.toThrow(/bad\.json: not a run timeline/);
    await expect(findRun(store, undefined)).rejects.toThrow(/no run recorded yet/);
    await expect(findRun(store, 'nope')).rejects.toThrow(/no run nope/);
    await expect(store.get('../etc/passwd')).rejects.toThrow(/not a run id/);
  });
});
