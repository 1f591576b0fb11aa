// A hostile client on the farm's NATS, against a real coordinator and a real agent building on
// the shared buildkitd, on the harness's locked-down server (TLS, an nkey user per role). The
// attacker holds an AGENT's credentials (a rogue or compromised agent, or a stolen agent seed; the
// same user as the honest agent) or none at all. What the server's permissions refuse is asserted
// as the server's refusal; what an agent may send (reports, events, staging) is refused by the
// coordinator and recorded as refused (never as a failure of the package); nothing the attacker
// made is published or signed, the honest run completes with the right result, and the index
// verifies with the repository key.
import { createServer } from 'node:http';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
  attachJobQueue,
  type BuildJob,
  type BuildReport,
  eventCodec,
  fileDigest,
  natsNames,
  ObjectStaging,
  PROTOCOL_VERSION,
  type ReportAnswer,
  reportCodec,
  stagingKey,
} from '@melange2/protocol';
import { NatsStateStore } from '@melange2/queue';
import { agentAccess, natsConnect, natsNamespaces } from '@melange2/test/harness';
import { indexNames, OS_REPO, type OsBootstrap, osBootstrap, apkFile } from '@melange2/test/os';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const d = inject('daemons');
const TIMEOUT = { timeout: 180_000 };
const randomToken = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex');

/** The server's permission violation somewhere in `e`'s cause chain (its text), if any. */
function permissionViolation(e: unknown): string | undefined {
  for (let c: unknown = e; c instanceof Error; c = c.cause)
    if (c.name === 'PermissionViolationError' || /permissions violation/i.test(c.message)) return c.message;
  return undefined;
}
/** What `p` was refused with: the server's permission violation, or what else happened. */
const refusal = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'done (not refused)',
    (e: unknown) => permissionViolation(e) ?? `not a permission violation: ${(e as Error).message}`,
  );
/** Subscribes on `nc`: the server's refusal closes the subscription with it. */
async function subscribeRefusal(nc: NatsConnection, subject: string): Promise<string> {
  const sub = nc.subscribe(subject);
  const closed = (async () => {
    try {
      for await (const _ of sub) return 'a message came (not refused)';
    } catch (e) {
      return permissionViolation(e) ?? (e as Error).message;
    }
    return 'closed (not refused)';
  })();
  await nc.flush();
  await nc.flush();
  return Promise.race([closed, new Promise<string>((r) => setTimeout(() => r('not refused'), 5000))]);
}

describe.skipIf(!d.nats.nkey)(
  'a hostile client on the farm (locked-down NATS, coordinator, agent and buildkitd)',
  () => {
    // The coordinator's connection (`nats.nc`) and the namespaces the tests make.
    const nats = natsNamespaces('h');
    const connections: NatsConnection[] = [];
    let b: OsBootstrap;
    const dirs: string[] = [];
    /** A repository of some testdata/os configs. */
    const repoOf = (names: readonly string[]) => {
      const dir = mkdtempSync(join(tmpdir(), 'm2-hostile-'));
      dirs.push(dir);
      for (const n of names) cpSync(join(OS_REPO, `${n}.yaml`), join(dir, `${n}.yaml`));
      return dir;
    };

    /**
     * The honest agent's connection and the attacker's, both with the x86_64 agent credentials of
     * `ns` (the attacker stole them, or is an agent itself).
     */
    const parties = async (ns: string) => {
      const access = await agentAccess(d.nats, ns, 'x86_64');
      const agentNc = await natsConnect(access);
      const attacker = await natsConnect(access);
      connections.push(agentNc, attacker);
      return { agentNc, attacker };
    };

    beforeAll(async () => {
      b = await osBootstrap(['x86_64']);
    });
    afterAll(async () => {
      await Promise.all(connections.map((nc) => nc.close()));
      for (const dir of [...dirs, ...(b ? [b.dir] : [])]) rmSync(dir, { recursive: true, force: true });
    });

    const run = (ns: string, repo: string, events: RunEvent[], logged: string[]): Promise<RunResult> =>
      runDistributed({
        nc: nats.nc,
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
    const honestAgent = (agentNc: NatsConnection, ns: string, repo: string, logged: string[] = []) =>
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
    const send = async (attacker: NatsConnection, ns: string, body: Uint8Array): Promise<ReportAnswer> =>
      answerCodec.decode((await attacker.request(natsNames(ns).results, body, { timeout: 20_000 })).data);
    const forge = (attacker: NatsConnection, ns: string, r: BuildReport) =>
      send(attacker, ns, reportCodec.encode(r));
    const state = async (ns: string) => {
      const kv = await NatsStateStore.open(nats.nc, natsNames(ns).state, { decode: decodeStateRecord });
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
        const ns = nats.fresh();
        const { agentNc, attacker } = await parties(ns);
        const repo = repoOf(['base-files', 'broken']);
        // The attacker's repository: the forged job names it; nobody may ever fetch from it.
        let fetchedFromAttacker = 0;
        const evil = createServer((_req, res) => {
          fetchedFromAttacker++;
          res.writeHead(404).end();
        });
        await new Promise<void>((r) => evil.listen(0, '127.0.0.1', r));
        const evilUrl = `http://127.0.0.1:${(evil.address() as { port: number }).port}`;
        // The attacker cannot listen on the report subject (only the coordinator may)...
        expect(await subscribeRefusal(attacker, natsNames(ns).results)).toMatch(/permissions violation/i);
        // ...but an agent holds its own reports: the test keeps the honest ones for it to replay.
        const seen: Uint8Array[] = [];
        const sub = nats.nc.subscribe(natsNames(ns).results, {
          callback: (_e, m) => void seen.push(m.data),
        });
        const events: RunEvent[] = [];
        const logged: string[] = [];
        const agentLog: string[] = [];
        const answers: Record<string, Promise<ReportAnswer>> = {};
        const agent = await honestAgent(agentNc, ns, repo, agentLog);
        try {
          const result = run(ns, repo, events, logged);
          // A report for a build that was never dispatched, and a forged success of broken (which
          // fails by design) with no packages, while it is in flight.
          await when(events, (e) => e.type === 'dispatched' && e.build.name === 'broken');
          const runRecord = (await state(ns)).get('run.v2');
          const id = runRecord?.kind === 'run' ? runRecord.runId : '';
          const noPackages = { kind: 'succeeded' as const, apks: [], steps: { total: 1, cached: 1 } };
          answers['never-dispatched'] = forge(attacker, ns, {
            runId: id,
            id: 'evil@x86_64',
            attempt: 1,
            token: randomToken(),
            agent: 'attacker',
            durationMs: 1,
            outcome: noPackages,
          });
          answers['forged-success'] = forge(attacker, ns, {
            runId: id,
            id: 'broken@x86_64',
            attempt: 1,
            token: randomToken(),
            agent: 'attacker',
            durationMs: 1,
            outcome: noPackages,
          });
          // A forged failure of base-files: it must not be remembered as a failure of the package.
          answers['forged-failure'] = forge(attacker, ns, {
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
          // An agent's credentials may not queue work: the server refuses the publish.
          expect(
            await refusal(
              jetstream(attacker).publish(
                `${natsNames(ns).subjectPrefix}.x86_64`,
                JSON.stringify(forgedJob),
                {
                  msgID: 'forged-job-agent',
                },
              ),
            ),
          ).toMatch(/permissions violation/i);
          // Had it got onto the stream anyway (a farm on a server without permissions, or the
          // coordinator's credentials stolen), the agent still refuses it: the same job, queued by
          // the coordinator's connection.
          await jetstream(nats.nc).publish(
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
          answers['replayed'] = send(attacker, ns, honest!);
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
          const store = await ObjectRepositoryStore.open(nats.nc, natsNames(ns).repo);
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
        const ns = nats.fresh();
        const { agentNc, attacker } = await parties(ns);
        const repo = repoOf(['base-files']);
        const events: RunEvent[] = [];
        const logged: string[] = [];
        // The rogue (an agent's credentials) pulls the jobs itself (its heartbeats give the coordinator a slot).
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
        const queue = await attachJobQueue(attacker, ns);
        const staging = ObjectStaging.attach(attacker, natsNames(ns).staging);
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
          return forge(attacker, ns, {
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
          // The coordinator makes the consumer; an agent only attaches to it.
          await when(events, (e) => e.type === 'dispatched');
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
          agent = await honestAgent(agentNc, ns, repo);
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
          const store = await ObjectRepositoryStore.open(nats.nc, natsNames(ns).repo);
          expect(indexNames((await store.readIndex('x86_64'))!, b.key)).toEqual(['base-files']);
          expect((await store.list('x86_64')).sort()).toEqual(['APKINDEX.tar.gz', 'base-files-1.0.0-r0.apk']);
          const local = join(work, 'published.apk');
          await writeFile(
            local,
            await buffer((await store.open('x86_64', 'base-files-1.0.0-r0.apk'))!.stream),
          );
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
    it('with no credentials the server refuses the connection', TIMEOUT, async () => {
      const outcome = await connect({
        servers: d.nats.url,
        ...(d.nats.tlsCa ? { tls: { ca: readFileSync(d.nats.tlsCa, 'utf8') } } : {}),
        reconnect: false,
        timeout: 5000,
      }).then(
        async (nc) => {
          await nc.close();
          return 'connected';
        },
        (e: unknown) => (e as Error).message,
      );
      expect(outcome).toMatch(/Authorization Violation/);
    });

    it(
      "with an agent's credentials: state, lock and failure writes, run-state reads, forged jobs and another arch's work are refused by the server; forged started/transient events and heartbeats change nothing; the honest run completes",
      TIMEOUT,
      async () => {
        const ns = nats.fresh();
        const n = natsNames(ns);
        const { agentNc, attacker } = await parties(ns);
        const repo = repoOf(['base-files']);
        const events: RunEvent[] = [];
        const logged: string[] = [];
        const heartbeat = (agent: string, alive: boolean, slots = 1) =>
          eventCodec.encode({ type: 'heartbeat', agent, arch: 'x86_64', slots, busy: 0, alive });
        // Heartbeats cannot be told apart by the server (one events subject per namespace, the agent
        // id is in the body): the attacker announces a slot of its own, so base-files is dispatched
        // before any honest agent runs.
        const beats = setInterval(() => attacker.publish(n.events, heartbeat('rogue', true)), 200);
        let agent: Awaited<ReturnType<typeof honestAgent>> | undefined;
        let denial: ReturnType<typeof setInterval> | undefined;
        try {
          const result = run(ns, repo, events, logged);
          await when(events, (e) => e.type === 'dispatched' && e.build.name === 'base-files');
          const runRecord = (await state(ns)).get('run.v2');
          const runId = runRecord?.kind === 'run' ? runRecord.runId : '';
          const refused: Record<string, string> = {
            // A forged failure: the next run would refuse to build base-files and skip its dependents.
            'write failure.x86_64.base-files': await refusal(
              jetstream(attacker).publish(
                `$KV.${n.state}.failure.x86_64.base-files`,
                JSON.stringify({ kind: 'failure', reason: 'forged' }),
              ),
            ),
            // A far-future index lock: every coordinator start would wait for it and exit.
            'write lock.x86_64 (until far in the future)': await refusal(
              jetstream(attacker).publish(
                `$KV.${n.index}.lock.x86_64`,
                JSON.stringify({ kind: 'lock', holder: 'attacker', until: Date.now() + 1e12 }),
              ),
            ),
            'read the run state (run)': await refusal(
              NatsStateStore.bind(attacker, n.state, { decode: decodeStateRecord, direct: true }).then((kv) =>
                kv.get('run'),
              ),
            ),
            'read the run state (stream get)': await refusal(
              jetstreamManager(attacker).then((jsm) =>
                jsm.streams.getMessage(`KV_${n.state}`, { last_by_subj: `$KV.${n.state}.run` }),
              ),
            ),
            'publish a forged job': await refusal(
              jetstream(attacker).publish(`${n.subjectPrefix}.x86_64`, JSON.stringify({ id: 'forged' })),
            ),
            "look up another arch's consumer": await refusal(
              attachJobQueue(attacker, ns)
                .then((q) => q.consumer('aarch64'))
                .then((c) => c.next({ expiresMs: 2000 })),
            ),
            "pull another arch's work (MSG.NEXT)": await refusal(
              attacker.request(
                `$JS.API.CONSUMER.MSG.NEXT.${n.stream}.${n.agentConsumer('aarch64')}`,
                '{"batch":1}',
                {
                  timeout: 5000,
                },
              ),
            ),
            'write the repository info': await refusal(
              jetstream(attacker).publish(`$KV.${n.info}.repository`, JSON.stringify({ kind: 'repository' })),
            ),
            'listen to the events (watch the farm)': await subscribeRefusal(attacker, n.events),
          };
          process.stdout.write(
            `\nrefused by the server (agent credentials):\n${Object.entries(refused)
              .map(([k, v]) => `  ${k}: ${v}`)
              .join('\n')}\n`,
          );
          for (const [attack, outcome] of Object.entries(refused))
            expect(outcome, attack).toMatch(/permissions violation/i);
          // Forged events of the build in flight, without its dispatch token: ignored.
          for (const type of ['started', 'transient'] as const)
            attacker.publish(
              n.events,
              eventCodec.encode({
                type,
                runId,
                id: 'base-files@x86_64',
                attempt: 1,
                token: randomToken(),
                agent: 'attacker',
                ...(type === 'transient' ? { message: 'forged fault' } : {}),
              } as Parameters<typeof eventCodec.encode>[0]),
            );
          await attacker.flush();
          // Another agent's heartbeat forged (not blocked): it says the honest agent is gone.
          denial = setInterval(() => attacker.publish(n.events, heartbeat('honest', false)), 250);
          agent = await honestAgent(agentNc, ns, repo);
          const r = await result;
          expect(r.rows).toMatchObject([
            { build: { name: 'base-files' }, state: 'succeeded', agent: 'honest' },
          ]);
          expect(r.ignoredEvents).toBe(2);
          expect(events.some((e) => e.type === 'transient')).toBe(false);
          expect(
            events.filter((e) => e.type === 'started').map((e) => e.type === 'started' && e.agent),
          ).toEqual(['honest']);
          // No poisoned state: no failure, no refusal, no lock of the attacker's.
          const st = await state(ns);
          expect([...st.keys()].filter((k) => /^(failure|refused)\./.test(k))).toEqual([]);
          const lock = await (await jetstreamManager(nats.nc)).streams
            .getMessage(`KV_${n.index}`, { last_by_subj: `$KV.${n.index}.lock.x86_64` })
            .catch(() => null);
          expect(lock?.string() ?? '').not.toContain('attacker');
          const store = await ObjectRepositoryStore.open(nats.nc, n.repo);
          expect(indexNames((await store.readIndex('x86_64'))!, b.key)).toEqual(['base-files']);
        } finally {
          clearInterval(beats);
          clearInterval(denial);
          await agent?.close(true);
        }
      },
    );
  },
);
