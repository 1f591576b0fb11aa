// A hostile client on the farm's NATS, against a real coordinator and a real agent building on
// the shared buildkitd: forged, replayed and tampered reports and forged jobs. Each is refused
// and recorded as refused (never as a failure of the package), nothing the attacker made is
// published or signed, the honest run completes with the right result, and the index verifies
// with the repository key.
import { createServer } from 'node:http';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { startNatsAgent } from '@melange2/agent';
import { generateKeyPair, packageInfo, packApk, readApkHead, signingKeyFromPem } from '@melange2/apk';
import {
  ObjectRepositoryStore,
  type RunEvent,
  type RunResult,
  runDistributed,
  type StateRecord,
  decodeStateRecord,
} from '@melange2/coordinator';
import {
  answerCodec,
  type BuildJob,
  type BuildReport,
  fileDigest,
  natsNames,
  natsStreams,
  ObjectStaging,
  openJobQueue,
  PROTOCOL_VERSION,
  type ReportAnswer,
  reportCodec,
  stagingKey,
} from '@melange2/protocol';
import { NatsStateStore } from '@melange2/queue';
import { indexNames, OS_REPO, type OsBootstrap, osBootstrap, apkFile } from '@melange2/test/os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { natsOptions } from './hostile-nats.js';

const d = inject('daemons');
const TIMEOUT = { timeout: 180_000 };
const randomToken = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex');

describe('a hostile client on the farm (real NATS, coordinator, agent and buildkitd)', () => {
  let coordinatorNc: NatsConnection;
  let agentNc: NatsConnection;
  let attacker: NatsConnection;
  let b: OsBootstrap;
  const namespaces: string[] = [];
  const dirs: string[] = [];
  const newNs = () => {
    const ns = `h${process.pid}x${namespaces.length}x${Date.now().toString(36)}`;
    namespaces.push(ns);
    return ns;
  };
  /** A repository of some testdata/os configs. */
  const repoOf = (names: readonly string[]) => {
    const dir = mkdtempSync(join(tmpdir(), 'm2-hostile-'));
    dirs.push(dir);
    for (const n of names) cpSync(join(OS_REPO, `${n}.yaml`), join(dir, `${n}.yaml`));
    return dir;
  };

  beforeAll(async () => {
    coordinatorNc = await connect(natsOptions('coordinator', d.natsUrl));
    agentNc = await connect(natsOptions('agent', d.natsUrl));
    attacker = await connect(natsOptions('attacker', d.natsUrl));
    b = await osBootstrap(['x86_64']);
  });
  afterAll(async () => {
    const jsm = await jetstreamManager(coordinatorNc);
    for (const ns of namespaces)
      for (const s of natsStreams(ns)) await jsm.streams.delete(s).catch(() => false);
    await Promise.all([coordinatorNc, agentNc, attacker].map((nc) => nc?.close()));
    for (const dir of [...dirs, ...(b ? [b.dir] : [])]) rmSync(dir, { recursive: true, force: true });
  });

  const run = (ns: string, repo: string, events: RunEvent[], logged: string[]): Promise<RunResult> =>
    runDistributed({
      nc: coordinatorNc,
      ns,
      repo,
      arches: ['x86_64'],
      signingKey: b.key,
      repositoryAppend: [b.repo],
      cacheDir: false,
      agentTimeoutMs: 3000,
      onEvent: (e) => events.push(e),
      log: (line) => logged.push(line),
    });
  const honestAgent = (ns: string, repo: string, logged: string[] = []) =>
    startNatsAgent({
      nc: agentNc,
      ns,
      arch: 'x86_64',
      slots: 1,
      id: 'honest',
      repoRoot: repo,
      buildkitAddr: d.buildkit.x86_64,
      cacheDir: b.cacheDir,
      heartbeatMs: 500,
      log: (line) => logged.push(line),
    });
  /** The attacker sends a report as raw bytes: what the coordinator answers. */
  const send = async (ns: string, body: Uint8Array): Promise<ReportAnswer> =>
    answerCodec.decode((await attacker.request(natsNames(ns).results, body, { timeout: 20_000 })).data);
  const forge = (ns: string, r: BuildReport) => send(ns, reportCodec.encode(r));
  const state = async (ns: string) => {
    const kv = await NatsStateStore.open(coordinatorNc, natsNames(ns).state, { decode: decodeStateRecord });
    const keys = await kv.keys();
    const out = new Map<string, StateRecord>();
    for (const k of keys) out.set(k, (await kv.get(k))!.value);
    return out;
  };
  const when = (events: RunEvent[], pred: (e: RunEvent) => boolean) =>
    new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (events.some(pred)) {
          clearInterval(t);
          resolve();
        }
      }, 20);
    });

  it(
    'forged reports (never dispatched, for a package that fails by design), a replayed report and a forged job naming an attacker repository are refused',
    TIMEOUT,
    async () => {
      const ns = newNs();
      const repo = repoOf(['base-files', 'broken']);
      // The attacker's repository: the forged job names it; nobody may ever fetch from it.
      let fetchedFromAttacker = 0;
      const evil = createServer((_req, res) => {
        fetchedFromAttacker++;
        res.writeHead(404).end();
      });
      await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
      const evilUrl = `http://127.0.0.1:${(evil.address() as { port: number }).port}`;
      // The attacker listens on the report subject: it sees the honest reports go by.
      const seen: Uint8Array[] = [];
      const sub = attacker.subscribe(natsNames(ns).results, { callback: (_e, m) => void seen.push(m.data) });
      const events: RunEvent[] = [];
      const logged: string[] = [];
      const agentLog: string[] = [];
      const answers: Record<string, Promise<ReportAnswer>> = {};
      const agent = await honestAgent(ns, repo, agentLog);
      try {
        const result = run(ns, repo, events, logged);
        // A report for a build that was never dispatched, and a forged success of broken (which
        // fails by design) with no packages, while it is in flight.
        await when(events, (e) => e.type === 'dispatched' && e.build.name === 'broken');
        const runRecord = (await state(ns)).get('run');
        const id = runRecord?.kind === 'run' ? runRecord.runId : '';
        const noPackages = { kind: 'succeeded' as const, apks: [], steps: { total: 1, cached: 1 } };
        answers['never-dispatched'] = forge(ns, {
          runId: id,
          id: 'evil@x86_64',
          attempt: 1,
          token: randomToken(),
          agent: 'attacker',
          durationMs: 1,
          outcome: noPackages,
        });
        answers['forged-success'] = forge(ns, {
          runId: id,
          id: 'broken@x86_64',
          attempt: 1,
          token: randomToken(),
          agent: 'attacker',
          durationMs: 1,
          outcome: noPackages,
        });
        // A forged failure of base-files: it must not be remembered as a failure of the package.
        answers['forged-failure'] = forge(ns, {
          runId: id,
          id: 'base-files@x86_64',
          attempt: 1,
          token: randomToken(),
          agent: 'attacker',
          durationMs: 1,
          outcome: { kind: 'failed', stage: 'solve', message: 'forged', logTail: [] },
        });
        // A forged job naming the attacker's repository and key (protocol 1 obeyed these fields).
        const forgedJob = {
          protocol: PROTOCOL_VERSION,
          runId: id,
          id: 'base-files@x86_64',
          name: 'base-files',
          arch: 'x86_64',
          version: '1.0.0-r0',
          configFile: 'base-files.yaml',
          attempt: 9,
          token: randomToken(),
          repositories: [evilUrl],
          keyring: [`${evilUrl}/evil.rsa.pub`],
        };
        await jetstream(attacker).publish(
          `${natsNames(ns).subjectPrefix}.x86_64`,
          JSON.stringify(forgedJob),
          { msgID: 'forged-job' },
        );
        // Replays the honest report of base-files as soon as it has been taken.
        await when(events, (e) => e.type === 'succeeded' && e.build.name === 'base-files');
        const honest = seen.find((m) => {
          const r = reportCodec.decode(m);
          return r.id === 'base-files@x86_64' && r.outcome.kind === 'succeeded';
        });
        expect(honest).toBeDefined();
        answers['replayed'] = send(ns, honest!);
        const r = await result;

        expect(await answers['never-dispatched']).toMatchObject({ ok: false, refused: 'not-dispatched' });
        expect(await answers['forged-success']).toMatchObject({ ok: false, refused: 'wrong-token' });
        // Dispatched or not yet (one slot): refused either way, and base-files still builds.
        expect(await answers['forged-failure']).toMatchObject({
          ok: false,
          refused: expect.stringMatching(/^(wrong-token|not-dispatched)$/),
        });
        expect(await answers['replayed']).toMatchObject({ ok: false, refused: 'replayed' });
        // The honest result: base-files built, broken failed as it does by design.
        expect(r.rows.map((x) => [x.build.name, x.state]).sort()).toEqual([
          ['base-files', 'succeeded'],
          ['broken', 'failed'],
        ]);
        expect(r.rows.find((x) => x.build.name === 'broken')?.reason).toMatch(/compile.*exit code 3/);
        expect(r.refusedReports).toBe(4);
        expect(
          events.filter((e) => e.type === 'refused').map((e) => e.type === 'refused' && e.outcome),
        ).toEqual(Array(4).fill('waiting'));
        expect(logged.filter((l) => l.startsWith('refused a report ('))).toHaveLength(4);
        // State: the only failure is broken's own; the refused reports are recorded as refused.
        const st = await state(ns);
        expect([...st.keys()].filter((k) => k.startsWith('failure.'))).toEqual(['failure.x86_64.broken']);
        expect((st.get('failure.x86_64.broken') as { reason: string }).reason).toMatch(/exit code 3/);
        expect(st.get('refused.unknown')).toMatchObject({ kind: 'refused', code: 'not-dispatched' });
        expect(st.get('refused.x86_64.broken')).toMatchObject({ kind: 'refused', code: 'wrong-token' });
        expect(st.get('refused.x86_64.base-files')).toMatchObject({ kind: 'refused', count: 2 });
        // The forged job was refused by the agent's decoder (it names fields jobs do not have):
        // nothing was fetched from the attacker's repository.
        expect(agentLog.some((l) => /refused job forged-job: job: .*(repositories|keyring)/s.test(l))).toBe(
          true,
        );
        expect(fetchedFromAttacker).toBe(0);
        // Published: base-files only, in an index signed by the repository key.
        const store = await ObjectRepositoryStore.open(coordinatorNc, natsNames(ns).repo);
        expect(indexNames((await store.readIndex('x86_64'))!, b.key)).toEqual(['base-files']);
      } finally {
        sub.unsubscribe();
        evil.close();
        await agent.close(true);
      }
    },
  );

  it(
    'a rogue agent that stages another package, or swaps its staged file after staging, is refused; the honest build is published',
    TIMEOUT,
    async () => {
      const ns = newNs();
      const repo = repoOf(['base-files']);
      const events: RunEvent[] = [];
      const logged: string[] = [];
      // The rogue pulls the jobs itself (its heartbeats give the coordinator a slot).
      const beat = () =>
        attacker.publish(
          natsNames(ns).events,
          JSON.stringify({
            protocol: PROTOCOL_VERSION,
            type: 'heartbeat',
            agent: 'rogue',
            arch: 'x86_64',
            slots: 1,
            busy: 0,
            alive: true,
          }),
        );
      const beats = setInterval(beat, 200);
      const queue = await openJobQueue(attacker, ns);
      const staging = await ObjectStaging.open(attacker, natsNames(ns).staging);
      const work = mkdtempSync(join(tmpdir(), 'm2-rogue-'));
      dirs.push(work);
      const rogueKey = signingKeyFromPem((await generateKeyPair(2048)).privatePem, 'rogue.rsa.pub');
      const pack = async (file: string, name: string, origin: string, marker: string) => {
        const dir = join(work, `tree-${marker}`);
        const { mkdirSync, writeFileSync } = await import('node:fs');
        mkdirSync(join(dir, 'etc'), { recursive: true });
        writeFileSync(join(dir, 'etc', 'os-release'), `ID=${marker}\n`);
        await packApk({
          dir,
          info: packageInfo({ name, version: '1.0.0-r0', arch: 'x86_64', description: marker, origin }),
          signingKey: rogueKey,
          output: file,
        });
        return file;
      };
      const rogueReport = async (job: BuildJob, file: string, swapWith?: string): Promise<ReportAnswer> => {
        const filename = 'base-files-1.0.0-r0.apk';
        const key = stagingKey(job, filename);
        await staging.put(key, file);
        const digest = await fileDigest(file);
        // Swapped after staging: the report names the first file's checksum.
        if (swapWith) await staging.put(key, swapWith);
        return forge(ns, {
          runId: job.runId,
          id: job.id,
          attempt: job.attempt,
          token: job.token,
          agent: 'rogue',
          durationMs: 1,
          outcome: {
            kind: 'succeeded',
            apks: [{ filename, key, ...digest }],
            steps: { total: 1, cached: 0 },
          },
        });
      };
      let agent: Awaited<ReturnType<typeof honestAgent>> | undefined;
      try {
        const result = run(ns, repo, events, logged);
        const consumer = await queue.consumer('x86_64');
        // (e) Attempt 1: the rogue stages a package named evil (origin evil) as base-files.
        const j1 = await consumer.next({ expiresMs: 30_000 });
        expect(j1?.data.name).toBe('base-files');
        const evil = await pack(join(work, 'evil.apk'), 'evil', 'evil', 'rogue-e');
        const a1 = await rogueReport(j1!.data, evil);
        j1!.term();
        expect(a1).toMatchObject({ ok: false, refused: 'package-mismatch' });
        // (c) Attempt 2: a well-formed base-files, swapped for other bytes after staging.
        const j2 = await consumer.next({ expiresMs: 30_000 });
        expect(j2?.data.attempt).toBe(2);
        const first = await pack(join(work, 'first.apk'), 'base-files', 'base-files', 'rogue-c1');
        const swapped = await pack(join(work, 'swapped.apk'), 'base-files', 'base-files', 'rogue-c2');
        const a2 = await rogueReport(j2!.data, first, swapped);
        j2!.term();
        expect(a2).toMatchObject({ ok: false, refused: 'staged-mismatch' });
        // The rogue leaves; an honest agent builds attempt 3.
        clearInterval(beats);
        agent = await honestAgent(ns, repo);
        const r = await result;
        expect(r.rows).toMatchObject([
          { build: { name: 'base-files' }, state: 'succeeded', agent: 'honest' },
        ]);
        expect(r.refusedReports).toBe(2);
        expect(
          events.filter((e) => e.type === 'refused').map((e) => e.type === 'refused' && e.outcome),
        ).toEqual(['redispatched', 'redispatched']);
        const st = await state(ns);
        expect([...st.keys()].filter((k) => k.startsWith('failure.'))).toEqual([]);
        expect(st.get('refused.x86_64.base-files')).toMatchObject({
          kind: 'refused',
          count: 2,
          code: 'staged-mismatch',
        });
        // Published: the honest build, signed by the repository key; none of the rogue's bytes.
        const store = await ObjectRepositoryStore.open(coordinatorNc, natsNames(ns).repo);
        expect(indexNames((await store.readIndex('x86_64'))!, b.key)).toEqual(['base-files']);
        expect((await store.list('x86_64')).sort()).toEqual(['APKINDEX.tar.gz', 'base-files-1.0.0-r0.apk']);
        const local = join(work, 'published.apk');
        await writeFile(local, await buffer((await store.open('x86_64', 'base-files-1.0.0-r0.apk'))!.stream));
        expect(await apkFile(local, 'etc/os-release')).toBe('ID=melange2-os 1.0.0-r0\n');
        const rogueIds = await Promise.all(
          [evil, first, swapped].map(async (f) => (await readApkHead(f)).checksum),
        );
        expect(rogueIds).not.toContain((await readApkHead(local)).checksum);
        expect((await readApkHead(local)).signatures.map((s) => s.keyName)).toEqual([b.key.publicName]);
      } finally {
        clearInterval(beats);
        await queue.close();
        await agent?.close(true);
      }
    },
  );
});
