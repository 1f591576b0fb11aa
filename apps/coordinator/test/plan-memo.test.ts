import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIndexArchive, packageInfo } from '@melange2/apk';
import { OS_REPO } from '@melange2/test/os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStateStore } from '@melange2/queue';
import { planAgainst, type StateRecord } from '../src/index.js';
import { fastMemo, memoBySchema, planRun } from '../src/internal.js';

/** The plan as data (the excluded map as entries), to compare a memoized plan with a fresh one. */
const asData = (p: Awaited<ReturnType<typeof planRun>>) => ({ ...p, excluded: [...p.excluded] });

/** Per arch, an index that holds every build of `p`. */
function indexesOf(p: Awaited<ReturnType<typeof planRun>>): Map<string, Buffer | undefined> {
  const out = new Map<string, Buffer | undefined>();
  for (const arch of ['x86_64', 'aarch64']) {
    const entries = p.builds
      .filter((b) => b.arch === arch)
      .map((b) => ({
        ...packageInfo({ name: b.name, version: b.version, arch }),
        checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        fileSize: 1,
      }));
    out.set(arch, buildIndexArchive({ description: 't', entries }));
  }
  return out;
}

/** The one memo file of a cache directory. */
function memoOf(cache: string): string {
  const files = readdirSync(join(cache, 'plans'));
  expect(files).toHaveLength(1);
  return join(cache, 'plans', files[0]!);
}

describe('plan memo', () => {
  let dir: string;
  let repo: string;
  let cache: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'm2-plan-memo-'));
    repo = join(dir, 'repo');
    cache = join(dir, 'cache');
    cpSync(OS_REPO, repo, { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const plan = (published = new Map<string, Buffer | undefined>(), cacheDir: string | false = cache) =>
    planRun({ repo, arches: ['x86_64', 'aarch64'], published, cacheDir, workers: 0 });

  it('an unchanged repository plans as without the memo, from the memo the second time', async () => {
    const fresh = asData(await plan(undefined, false));
    expect(asData(await plan())).toEqual(fresh);
    expect(asData(await plan())).toEqual(fresh);
    // The second run read the memo: what it says is what the run gets.
    const memo = memoOf(cache);
    const v = JSON.parse(readFileSync(memo, 'utf8'));
    v.plan.cycles = ['from the memo'];
    writeFileSync(memo, JSON.stringify(v));
    expect((await plan()).cycles).toEqual(['from the memo']);
  });

  it('an arch with no published index is the same memo whether it is absent or mapped to nothing', async () => {
    await plan(new Map());
    const memo = memoOf(cache);
    const v = JSON.parse(readFileSync(memo, 'utf8'));
    v.plan.cycles = ['from the memo'];
    writeFileSync(memo, JSON.stringify(v));
    const unpublished = new Map<string, Buffer | undefined>([
      ['x86_64', undefined],
      ['aarch64', undefined],
    ]);
    expect((await plan(unpublished)).cycles).toEqual(['from the memo']);
  });

  it('a changed config, a changed published index or other durations plan again', async () => {
    await plan();
    // A config's new epoch is a new version to build.
    const motd = join(repo, 'motd.yaml');
    writeFileSync(motd, readFileSync(motd, 'utf8').replace(/epoch: \d+/, 'epoch: 42'));
    const changed = asData(await plan());
    expect(changed.builds.find((b) => b.id === 'motd@x86_64')?.version).toMatch(/-r42$/);
    expect(changed).toEqual(asData(await plan(undefined, false)));

    // motd published for x86_64: up to date there, from a new plan.
    const entry = {
      ...packageInfo({
        name: 'motd',
        version: changed.builds.find((b) => b.id === 'motd@x86_64')!.version,
        arch: 'x86_64',
      }),
      checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      fileSize: 1,
    };
    const published = new Map([
      ['x86_64', buildIndexArchive({ description: 't', entries: [entry] })],
      ['aarch64', undefined],
    ]);
    const withIndex = asData(await plan(published));
    expect(withIndex.upToDate).toContainEqual({ id: 'motd@x86_64', version: entry.version });
    expect(withIndex).toEqual(asData(await plan(published, false)));

    const durations = new Map([['motd@aarch64', 123_456]]);
    const timed = await planRun({
      repo,
      arches: ['x86_64', 'aarch64'],
      published,
      durations,
      cacheDir: cache,
      workers: 0,
    });
    expect(timed.builds.find((b) => b.id === 'motd@aarch64')?.cost).toBe(123_456);
  });

  it('with everything published, the plan (no graph built) lists every config as up to date', async () => {
    const full = await plan(undefined, false);
    const noop = await plan(indexesOf(full), false);
    expect(noop.builds).toEqual([]);
    expect(noop.cycles).toEqual([]);
    expect([...noop.excluded]).toEqual([]);
    const byArch = (arch: string) =>
      full.builds
        .filter((b) => b.arch === arch)
        .map((b) => ({ id: b.id, version: b.version }))
        .sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(noop.upToDate).toEqual([...byArch('x86_64'), ...byArch('aarch64')]);
  });

  it('recorded durations are the costs of the planned builds, read for them only, outside the memo key', async () => {
    /** Counts the records read. */
    class Counting extends MemoryStateStore<StateRecord> {
      reads = 0;
      override async get(key: string) {
        this.reads++;
        return super.get(key);
      }
    }
    const state = new Counting();
    const record = (durationMs: number): StateRecord => ({
      kind: 'build',
      runId: 'r',
      state: 'succeeded',
      attempt: 1,
      version: '1-r0',
      durationMs,
    });
    await state.put('build.aarch64.motd', record(123_456));
    const nothingPublished = { readIndex: async () => undefined };
    const inputs = { repo, arches: ['x86_64', 'aarch64'] as const, cacheDir: cache, workers: 0 };
    const cost = (p: Awaited<ReturnType<typeof planRun>>, id: string) =>
      p.builds.find((b) => b.id === id)?.cost;
    const first = await planAgainst(nothingPublished, state, inputs);
    expect(cost(first, 'motd@aarch64')).toBe(123_456);
    expect(cost(first, 'motd@x86_64')).not.toBe(123_456);
    expect(state.reads).toBe(1);

    // A duration recorded since: the memo is still the plan (not rewritten), with the new cost.
    const memo = readFileSync(memoOf(cache), 'utf8');
    await state.put('build.x86_64.motd', record(42));
    const second = await planAgainst(nothingPublished, state, inputs);
    expect(cost(second, 'motd@x86_64')).toBe(42);
    expect(cost(second, 'motd@aarch64')).toBe(123_456);
    expect(readFileSync(memoOf(cache), 'utf8')).toBe(memo);

    // Everything published: nothing planned, no record read.
    const indexes = indexesOf(first);
    state.reads = 0;
    const noop = await planAgainst({ readIndex: async (a: string) => indexes.get(a) }, state, inputs);
    expect(noop.builds).toEqual([]);
    expect(state.reads).toBe(0);
  });

  it('a memo that is not one is ignored and replaced', async () => {
    const fresh = asData(await plan());
    const memo = memoOf(cache);
    const v = JSON.parse(readFileSync(memo, 'utf8'));
    writeFileSync(memo, JSON.stringify({ ...v, plan: { builds: 'no' } }));
    expect(asData(await plan())).toEqual(fresh);
    // Dependencies are indexes into the builds: one past them is not a memo this code wrote.
    const w = JSON.parse(readFileSync(memo, 'utf8'));
    const withDeps = w.plan.builds.find((b: { deps?: number[] }) => b.deps?.length);
    expect(withDeps).toBeDefined();
    withDeps.deps = [w.plan.builds.length];
    w.plan.cycles = ['from the memo'];
    writeFileSync(memo, JSON.stringify(w));
    expect(asData(await plan())).toEqual(fresh);
  });

  it('an unchanged repository (as the stat index knows it) plans from the memo without the parsed configs', async () => {
    // Modified long before they were read: the parse cache's stat index vouches for every file.
    const old = new Date(Date.now() - 3600_000);
    const age = (d: string) => {
      for (const f of readdirSync(d, { withFileTypes: true })) {
        if (f.isDirectory()) age(join(d, f.name));
        else utimesSync(join(d, f.name), old, old);
      }
    };
    age(repo);
    const fresh = asData(await plan(undefined, false));
    expect(asData(await plan())).toEqual(fresh);
    // The parsed configs made unreadable: the plan still comes back, from the memo.
    const entries = readdirSync(join(cache, 'depgraph')).find((f) => !f.endsWith('.stats.json'))!;
    writeFileSync(join(cache, 'depgraph', entries), 'not json');
    expect(asData(await plan())).toEqual(fresh);
    expect(readFileSync(join(cache, 'depgraph', entries), 'utf8')).toBe('not json');
    // A changed config is not vouched for: scanned (the parse cache rewritten) and planned again.
    const motd = join(repo, 'motd.yaml');
    writeFileSync(motd, readFileSync(motd, 'utf8').replace(/epoch: \d+/, 'epoch: 7'));
    const again = await plan();
    expect(again.builds.find((b) => b.name === 'motd')?.version).toMatch(/-r7$/);
    expect(readFileSync(join(cache, 'depgraph', entries), 'utf8')).not.toBe('not json');
  });

  it('the hand-written check answers as the schema does, on the memo and hundreds of variants', async () => {
    await plan();
    const memo = JSON.parse(readFileSync(memoOf(cache), 'utf8'));
    const format: string = memo.format;
    // A memo as written: vouched for by the check (the fast path a run takes), as the schema reads it.
    expect(fastMemo(memo, format)).toEqual(memoBySchema(memo));
    expect(fastMemo(memo, format)).toBeDefined();
    // Each variant changes one value somewhere in it: the check never accepts what the schema
    // refuses, and what it accepts is what the schema gives.
    const odd: unknown[] = [undefined, null, -1, 1.5, '', 'x', [], {}, [1], ['a', 'b', 'c'], { a: 1 }, true];
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, at: (string | number)[], depth: number) => {
      paths.push(at);
      if (depth === 0 || typeof v !== 'object' || v === null) return;
      const entries = Array.isArray(v) ? v.slice(0, 2).map((x, i) => [i, x] as const) : Object.entries(v);
      for (const [k, x] of entries) walk(x, [...at, k], depth - 1);
    };
    walk(memo, [], 5);
    // Also the first build of each shape: with ids, dependency indexes, a cycle, provides, needs.
    for (const field of ['depIds', 'deps', 'cycle', 'provides', 'needs', 'id']) {
      const i = memo.plan.builds.findIndex((b: Record<string, unknown>) => field in b);
      if (i >= 0) walk(memo.plan.builds[i], ['plan', 'builds', i], 3);
    }
    let variants = 0;
    let accepted = 0;
    for (const at of paths) {
      for (const value of [...odd, 'extra-key']) {
        const v = structuredClone(memo);
        let parent = v;
        for (const k of at.slice(0, -1)) parent = parent[k];
        const last = at.at(-1);
        if (last === undefined) continue;
        if (value === 'extra-key') {
          const target = parent[last];
          if (typeof target !== 'object' || target === null || Array.isArray(target)) continue;
          target.unexpected = 1;
        } else if (value === undefined) delete parent[last];
        else parent[last] = value;
        variants++;
        const quick = fastMemo(v, format);
        const bySchema = memoBySchema(v);
        if (quick !== undefined) {
          accepted++;
          expect(bySchema, JSON.stringify(at)).toBeDefined();
          expect(quick, JSON.stringify(at)).toEqual(bySchema);
        }
      }
    }
    expect(variants).toBeGreaterThan(300);
    // Some variants are still memos (an extra key in a loose object, another string): not all refused.
    expect(accepted).toBeGreaterThan(0);
  });
});
