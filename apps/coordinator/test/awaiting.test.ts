// A build must not install an older provider of what the same run is still to produce: jobs name
// those (`awaiting`), and a build whose environment would have is given back and waits for them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIndexArchive, packageInfo, type SigningKey } from '@melange2/apk';
import { type BuildJob, type BuildReport, LocalStaging } from '@melange2/protocol';
import { MemoryStateStore, MemoryWorkQueue } from '@melange2/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localPublisher, reportOn, testSigningKey } from './run-build.js';
import {
  Coordinator,
  ReachIndex,
  type RunBuild,
  type RunEvent,
  type RunPlan,
  type StateRecord,
} from '@melange2/coordinator';
import { Scheduler } from '@melange2/coordinator/internal';

const build = (
  name: string,
  o: { deps?: string[]; needs?: string[]; provides?: string[]; cycle?: number } = {},
): RunBuild => ({
  id: `${name}@x86_64`,
  name,
  arch: 'x86_64',
  deps: (o.deps ?? []).map((d) => `${d}@x86_64`),
  cost: 1,
  reasons: ['not published'],
  version: '1.0-r0',
  configFile: `${name}.yaml`,
  input: `input-${name}`,
  packages: [name, `${name}-dev`],
  ...(o.provides ? { provides: o.provides } : {}),
  ...(o.needs ? { needs: o.needs } : {}),
  ...(o.cycle !== undefined ? { cycle: o.cycle } : {}),
});

describe('Scheduler.waitFor', () => {
  it('a build given back waits for the producers, is released when they are published, skipped when one fails', () => {
    const s = new Scheduler([build('flex'), build('m4'), build('bc'), build('calc')]);
    expect(s.take('x86_64', 4)).toHaveLength(4);
    expect(s.waitFor('bc@x86_64', ['m4@x86_64', 'flex@x86_64'])).toEqual(['m4@x86_64', 'flex@x86_64']);
    expect(s.state('bc@x86_64')).toEqual({ kind: 'blocked', waitingOn: ['flex@x86_64', 'm4@x86_64'] });
    expect(s.succeeded('m4@x86_64')).toEqual([]);
    expect(s.succeeded('flex@x86_64').map((b) => b.name)).toEqual(['bc']);
    expect(s.take('x86_64', 4).map((b) => b.name)).toEqual(['bc']);
    expect(s.attempts('bc@x86_64')).toBe(2);
    // A producer that fails skips its waiters (and theirs), as a declared dependency does.
    s.waitFor('calc@x86_64', ['bc@x86_64']);
    expect(s.failed('bc@x86_64', 'exit 1').map((b) => b.name)).toEqual(['calc']);
    expect(s.state('calc@x86_64')).toEqual({ kind: 'skipped', reason: 'dependency failed: bc' });
  });

  it('never waits on itself, on a settled build, or on one that waits for it (no wait closes a cycle)', () => {
    const s = new Scheduler([build('a'), build('b'), build('c', { deps: ['a'] }), build('done')]);
    s.take('x86_64', 4);
    s.succeeded('done@x86_64');
    expect(s.waitFor('a@x86_64', ['a@x86_64', 'done@x86_64', 'c@x86_64', 'nope@x86_64'])).toEqual([]);
    // Nothing to wait for: straight back to the ready set.
    expect(s.state('a@x86_64')).toEqual({ kind: 'ready' });
    expect(s.take('x86_64', 4).map((x) => x.name)).toEqual(['a']);
    expect(s.waitFor('a@x86_64', ['b@x86_64'])).toEqual(['b@x86_64']);
    expect(s.dependsOn('c@x86_64', 'b@x86_64')).toBe(true);
    // b's environment hits a's names: a waits for b already, so b goes again instead.
    expect(s.waitFor('b@x86_64', ['a@x86_64'], { undispatch: true })).toEqual([]);
    expect(s.attempts('b@x86_64')).toBe(0);
    expect(s.state('b@x86_64')).toEqual({ kind: 'ready' });
  });
});

describe('ReachIndex', () => {
  it('follows an index’s depends by name and by provide; an unreadable repository is logged and left out', async () => {
    const reach = new ReachIndex({ runtime: { x86_64: { flex: ['m4'] } } });
    const logged: string[] = [];
    await reach.addRepositories(['x86_64'], [join(tmpdir(), 'm2-no-such-repo')], (l) => logged.push(l));
    expect(logged).toEqual([expect.stringMatching(/m2-no-such-repo\/x86_64\/APKINDEX\.tar\.gz: not read/)]);
    expect([...(reach.deps('x86_64', 'flex') ?? [])]).toEqual(['m4']);
    expect(reach.deps('aarch64', 'flex')).toBeUndefined();
  });
});

describe('the coordinator fills awaiting and re-queues a build given back', () => {
  let dir: string;
  let signingKey: SigningKey;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'm2-awaiting-'));
    signingKey = await testSigningKey();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function start(plan: RunPlan, reach: ReachIndex) {
    const queue = new MemoryWorkQueue<BuildJob>();
    const events: RunEvent[] = [];
    const c = new Coordinator({
      runId: 'r1',
      plan,
      queue,
      staging: new LocalStaging(join(dir, 'staging')),
      publisher: localPublisher(dir, signingKey),
      signingKey,
      state: new MemoryStateStore<StateRecord>('s'),
      published: join(dir, 'repo'),
      reach,
      onEvent: (e) => events.push(e),
      log: () => {},
    });
    const run = c.run();
    c.agentEvent({ type: 'heartbeat', agent: 'a', arch: 'x86_64', slots: 4, busy: 0, alive: true });
    const consumer = await queue.consumer('x86_64');
    const next = async () => {
      const d = await consumer.next({ expiresMs: 5000 });
      if (!d) throw new Error('no job');
      await d.ack();
      return d.data;
    };
    const answer = (job: BuildJob, outcome: BuildReport['outcome']) => c.report(reportOn(job, outcome));
    return { run, next, answer, events, queue };
  }

  const plan = (builds: RunBuild[], runtime: Record<string, string[]> = {}): RunPlan => ({
    root: dir,
    builds,
    upToDate: [],
    problems: [],
    cycles: [],
    excluded: new Map(),
    runtime: { x86_64: runtime },
  });

  it('names what the environment reaches (runtime of the repository and the indexes), waits, and skips when the producer fails', async () => {
    // user needs wrapper (an appended repository's package), wrapper depends on tool: the graph
    // has no edge, so both go at once; only user's job names tool.
    const p = plan([build('tool', { provides: ['cmd:tool'] }), build('user', { needs: ['wrapper'] })]);
    const reach = new ReachIndex(p);
    reach.addIndex('x86_64', wrapperIndex(), 'appended');
    const r = await start(p, reach);
    const jobs = [await r.next(), await r.next()];
    const tool = jobs.find((j) => j.name === 'tool')!;
    const user = jobs.find((j) => j.name === 'user')!;
    expect(tool.awaiting).toBeUndefined();
    expect(user.awaiting).toEqual(['cmd:tool', 'tool', 'tool-dev']);
    await r.answer(user, { kind: 'awaiting', name: 'tool', message: 'would install tool-0.9-r0' });
    expect(r.events).toContainEqual(
      expect.objectContaining({ type: 'waiting', name: 'tool', on: ['tool@x86_64'], agent: 'a' }),
    );
    await r.answer(tool, { kind: 'failed', stage: 'solve', message: 'exit 1', logTail: [] });
    const result = await r.run;
    expect(result.rows.map((x) => [x.build.name, x.state, x.reason])).toEqual([
      ['tool', 'failed', 'solve failed: exit 1'],
      ['user', 'skipped', 'dependency failed: tool'],
    ]);
    await r.queue.close();
  });

  it('members of a cycle never name each other (both build against the published versions, as the cycle policy says)', async () => {
    const p = plan([
      build('cycle-a', { needs: ['cycle-b'], cycle: 0 }),
      build('cycle-b', { needs: ['cycle-a'], cycle: 0 }),
      build('app', { needs: ['cycle-a'] }),
    ]);
    const r = await start(p, new ReachIndex(p));
    const jobs = [await r.next(), await r.next(), await r.next()];
    expect(jobs.map((j) => [j.name, j.awaiting])).toEqual(
      expect.arrayContaining([
        ['cycle-a', undefined],
        ['cycle-b', undefined],
        ['app', ['cycle-a', 'cycle-a-dev']],
      ]),
    );
    for (const j of jobs) await r.answer(j, { kind: 'failed', stage: 'solve', message: 'x', logTail: [] });
    await r.run;
    await r.queue.close();
  });

  it('a build given back for a name with nothing left to wait for goes again, at most 3 times, then fails', async () => {
    const p = plan([build('tool'), build('user', { needs: ['tool-dev'] })], {});
    const r = await start(p, new ReachIndex(p));
    const first = [await r.next(), await r.next()];
    const tool = first.find((j) => j.name === 'tool')!;
    let user = first.find((j) => j.name === 'user')!;
    expect(user.awaiting).toEqual(['tool', 'tool-dev']);
    // Nothing in the run makes `ghost`: each report sends the build again at once.
    for (let i = 1; i <= 3; i++) {
      await r.answer(user, { kind: 'awaiting', name: 'ghost', message: 'x' });
      user = await r.next();
      expect(user.attempt).toBe(i + 1);
      expect(user.awaiting).toEqual(['tool', 'tool-dev']);
    }
    await r.answer(user, { kind: 'awaiting', name: 'ghost', message: 'x' });
    await r.answer(tool, { kind: 'failed', stage: 'solve', message: 'exit 1', logTail: [] });
    const result = await r.run;
    expect(result.rows[1]).toMatchObject({
      state: 'failed',
      reason: expect.stringMatching(/older ghost than this run makes, 4 times with nothing left to wait for/),
    });
    await r.queue.close();
  });
});

/** An unsigned appended repository's index: `wrapper` depends on `tool` (and conflicts with one). */
function wrapperIndex(): Buffer {
  return buildIndexArchive({
    description: 'appended',
    entries: [
      {
        ...packageInfo({ name: 'wrapper', version: '1-r0', arch: 'x86_64' }),
        depends: ['tool>=0.9', '!oldtool'],
        checksum: 'Q1aaaaaaaaaaaaaaaaaaaaaaaaaaa=',
        fileSize: 1,
      },
    ],
  });
}
