/**
 * The permission matrix of a locked-down farm, on a real nats-server started as `daemons up` and
 * `nats-config` set it up (TLS, one nkey user per role, `agentRole`'s allow lists): what an
 * agent's credentials allow works, everything else is refused by the server with a permission
 * violation, and the coordinator's state is untouched afterwards. Table-driven; the matrix is
 * printed after the run.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningNats, startNats, writeNatsSecurity } from '@melange2/daemons';
import {
  agentRole,
  agentRoleName,
  farmRoles,
  natsNames,
  ObjectStaging,
  type RepositoryInfo,
  repositoryInfoReader,
  STAGING_MAX_AGE_MS,
  stagingKey,
  writeRepositoryInfo,
} from '@melange2/protocol';
import { deadLetterStream, JetStreamWorkQueue, NatsStateStore } from '@melange2/queue';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import {
  type ConnectionOptions,
  connect,
  type NatsConnection,
  nkeyAuthenticator,
  nkeys,
} from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ns = `perm${process.pid}x${Date.now().toString(36)}`;
const names = natsNames(ns);
const ARCH = 'x86_64';
const OTHER = 'aarch64';
const enc = new TextEncoder();
const INFO: RepositoryInfo = {
  kind: 'repository',
  runId: 'r1',
  url: 'http://127.0.0.1:1/repo',
  keys: [{ name: 'repo.rsa.pub', pem: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n' }],
  repositories: [],
  keyUrls: [],
};

let dir = '';
let server: RunningNats;
let ca = '';
let seeds: Readonly<Record<string, string>> = {};
/** The coordinator's connection, and an x86_64 agent's. */
let co: NatsConnection;
let ag: NatsConnection;
let coQueue: JetStreamWorkQueue<{ id: string }>;
const events: string[] = [];

const seedOf = (role: string) => enc.encode(readFileSync(seeds[role]!, 'utf8').trim());
const options = (extra: Partial<ConnectionOptions>): ConnectionOptions => ({
  servers: server.url,
  tls: { ca },
  reconnect: false,
  timeout: 5000,
  ...extra,
});

/** The PermissionViolationError (or its text) somewhere in `e`'s cause chain. */
function permissionViolation(e: unknown): string | undefined {
  for (let c: unknown = e; c instanceof Error; c = c.cause)
    if (c.name === 'PermissionViolationError' || /permissions violation/i.test(c.message)) return c.message;
  return undefined;
}

/** Whether the server refuses a plain publish on `nc` (it says so asynchronously). */
async function plainPublishRefused(nc: NatsConnection, subject: string): Promise<string | undefined> {
  const status = nc.status();
  const seen = (async () => {
    for await (const s of status)
      if (s.type === 'error' && permissionViolation(s.error)) return permissionViolation(s.error);
    return undefined;
  })();
  nc.publish(subject, enc.encode('forged'));
  await nc.flush();
  // The error comes before the PONG of a later flush: one more round trip settles it.
  await nc.flush();
  const r = await Promise.race([
    seen,
    new Promise<undefined>((res) => setTimeout(() => res(undefined), 2000)),
  ]);
  return r;
}

/** Subscribes to `subject` on `nc`: the server's refusal closes the subscription with it. */
async function subscribeRefused(nc: NatsConnection, subject: string): Promise<string | undefined> {
  const sub = nc.subscribe(subject);
  const closed = (async () => {
    try {
      for await (const _ of sub) return undefined;
    } catch (e) {
      return permissionViolation(e);
    }
    return undefined;
  })();
  await nc.flush();
  await nc.flush();
  const r = await Promise.race([
    closed,
    new Promise<undefined>((res) => setTimeout(() => res(undefined), 2000)),
  ]);
  if (!sub.isClosed()) sub.unsubscribe();
  return r;
}

type Outcome = 'allowed' | 'refused';
interface Case {
  readonly who: string;
  readonly action: string;
  readonly expect: Outcome;
  /** Allowed: resolves when done. Refused: resolves with the server's refusal, or throws it. */
  readonly run: () => Promise<unknown>;
}

const agent = agentRoleName(ns, ARCH);
const refusedBy = async (p: Promise<unknown>) => p;

const CASES: readonly Case[] = [
  {
    who: agent,
    action: "pull a job from its arch's consumer, keep it alive, ack it",
    expect: 'allowed',
    run: async () => {
      const q = await JetStreamWorkQueue.attach<{ id: string }>(ag, {
        stream: names.stream,
        subjectPrefix: names.subjectPrefix,
      });
      const d = await (await q.consumer(ARCH)).next({ expiresMs: 5000 });
      expect(d?.data).toEqual({ id: `job-${ARCH}` });
      d?.working();
      await d?.ack();
    },
  },
  {
    who: agent,
    action: 'publish an event (heartbeat)',
    expect: 'allowed',
    run: async () => {
      ag.publish(names.events, enc.encode('heartbeat'));
      await ag.flush();
      for (let i = 0; !events.includes('heartbeat'); i++) {
        if (i > 500) throw new Error('the event did not arrive');
        await new Promise((r) => setTimeout(r, 10));
      }
    },
  },
  {
    who: agent,
    action: 'send a report and get the answer (request/reply into its inbox)',
    expect: 'allowed',
    run: async () => {
      const m = await ag.request(names.results, enc.encode('report'), { timeout: 5000 });
      expect(m.string()).toBe('taken');
    },
  },
  {
    who: agent,
    action: 'stage a package in the staging object store',
    expect: 'allowed',
    run: async () => {
      const file = join(dir, 'hello.apk');
      writeFileSync(file, 'not really an apk');
      const key = stagingKey({ runId: 'r1', id: `hello@${ARCH}`, attempt: 1, arch: ARCH }, 'hello.apk');
      await ObjectStaging.attach(ag, names.staging).put(key, file);
      const staged = await (await ObjectStaging.open(co, names.staging)).fetch(key);
      expect(readFileSync(staged.path, 'utf8')).toBe('not really an apk');
      await staged.release();
    },
  },
  {
    who: agent,
    action: 'read the repository info (key `repository` of <ns>_info, direct get)',
    expect: 'allowed',
    run: async () => expect(await (await repositoryInfoReader(ag, ns)).read()).toEqual(INFO),
  },
  {
    who: agent,
    action: 'write the repository info (KV put)',
    expect: 'refused',
    run: () =>
      refusedBy(jetstream(ag).publish(`$KV.${names.info}.repository`, enc.encode(JSON.stringify(INFO)))),
  },
  {
    who: agent,
    action: 'read the repository info by stream get (key in the body, not the subject)',
    expect: 'refused',
    run: async () =>
      (await jetstreamManager(ag)).streams.getMessage(`KV_${names.info}`, {
        last_by_subj: `$KV.${names.info}.repository`,
      }),
  },
  {
    who: agent,
    action: 'read another key of <ns>_info (direct get)',
    expect: 'refused',
    run: () =>
      refusedBy(
        ag.request(`$JS.API.DIRECT.GET.KV_${names.info}.$KV.${names.info}.other`, undefined, {
          timeout: 5000,
        }),
      ),
  },
  {
    who: agent,
    action: 'read the runs object store (<ns>_runs)',
    expect: 'refused',
    run: () => refusedBy(new Objm(ag).open(names.runs)),
  },
  {
    who: agent,
    action: 'publish a job (JetStream publish)',
    expect: 'refused',
    run: () =>
      refusedBy(jetstream(ag).publish(`${names.subjectPrefix}.${ARCH}`, enc.encode('{"id":"forged"}'))),
  },
  {
    who: agent,
    action: 'publish a job (plain publish on the stream subject)',
    expect: 'refused',
    run: () => plainPublishRefused(ag, `${names.subjectPrefix}.${OTHER}`),
  },
  {
    who: agent,
    action: 'write run state (KV put run.*)',
    expect: 'refused',
    run: () => refusedBy(jetstream(ag).publish(`$KV.${names.state}.run`, enc.encode('{}'))),
  },
  {
    who: agent,
    action: 'write a lock.* KV key',
    expect: 'refused',
    run: () => refusedBy(jetstream(ag).publish(`$KV.${names.state}.lock.${ARCH}`, enc.encode('{}'))),
  },
  {
    who: agent,
    action: 'write a failure.* KV key',
    expect: 'refused',
    run: () => refusedBy(jetstream(ag).publish(`$KV.${names.state}.failure.hello`, enc.encode('{}'))),
  },
  {
    who: agent,
    action: 'write the index publisher records (KV)',
    expect: 'refused',
    run: () => refusedBy(jetstream(ag).publish(`$KV.${names.index}.x86_64`, enc.encode('{}'))),
  },
  {
    who: agent,
    action: 'read run state',
    expect: 'refused',
    run: async () =>
      (await jetstreamManager(ag)).streams.getMessage(`KV_${names.state}`, {
        last_by_subj: `$KV.${names.state}.run`,
      }),
  },
  {
    who: agent,
    action: 'open the repository object store',
    expect: 'refused',
    run: () => refusedBy(new Objm(ag).open(names.repo)),
  },
  {
    who: agent,
    action: 'write the repository object store (a chunk)',
    expect: 'refused',
    run: () => refusedBy(jetstream(ag).publish(`$O.${names.repo}.C.forged`, enc.encode('apk'))),
  },
  {
    who: agent,
    action: 'delete the work stream',
    expect: 'refused',
    run: async () => (await jetstreamManager(ag)).streams.delete(names.stream),
  },
  {
    who: agent,
    action: 'delete the run state bucket',
    expect: 'refused',
    run: async () => (await jetstreamManager(ag)).streams.delete(`KV_${names.state}`),
  },
  {
    who: agent,
    action: 'purge the work stream',
    expect: 'refused',
    run: async () => (await jetstreamManager(ag)).streams.purge(names.stream),
  },
  {
    who: agent,
    action: 'change its own consumer (lease, filter)',
    expect: 'refused',
    run: async () =>
      (await jetstreamManager(ag)).consumers.update(names.stream, names.agentConsumer(ARCH), {
        max_deliver: 100,
      }),
  },
  {
    who: agent,
    action: 'create a consumer on the work stream',
    expect: 'refused',
    run: async () =>
      (await jetstreamManager(ag)).consumers.add(names.stream, {
        durable_name: 'spy',
        filter_subject: `${names.subjectPrefix}.${OTHER}`,
      }),
  },
  {
    who: agent,
    action: "look up another arch's consumer",
    expect: 'refused',
    run: async () => {
      const q = await JetStreamWorkQueue.attach(ag, {
        stream: names.stream,
        subjectPrefix: names.subjectPrefix,
      });
      return (await q.consumer(OTHER)).next({ expiresMs: 1000 });
    },
  },
  {
    who: agent,
    action: "pull from another arch's consumer (raw MSG.NEXT)",
    expect: 'refused',
    run: () =>
      refusedBy(
        ag.request(
          `$JS.API.CONSUMER.MSG.NEXT.${names.stream}.${names.agentConsumer(OTHER)}`,
          enc.encode('{"batch":1}'),
          {
            timeout: 5000,
          },
        ),
      ),
  },
  {
    who: agent,
    action: 'forge a dead letter (publish a max-deliveries advisory the dead-letter stream keeps)',
    expect: 'refused',
    run: () =>
      plainPublishRefused(
        ag,
        `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${names.stream}.${names.agentConsumer(OTHER)}`,
      ),
  },
  {
    who: agent,
    action: 'read the dead letters (get from the dead-letter stream)',
    expect: 'refused',
    run: async () =>
      (await jetstreamManager(ag)).streams.getMessage(deadLetterStream(names.stream), { seq: 1 }),
  },
  {
    who: agent,
    action: 'purge the dead-letter stream',
    expect: 'refused',
    run: async () => (await jetstreamManager(ag)).streams.purge(deadLetterStream(names.stream)),
  },
  {
    who: agent,
    action: "subscribe to another arch's job subject",
    expect: 'refused',
    run: () => subscribeRefused(ag, `${names.subjectPrefix}.${OTHER}`),
  },
  {
    who: agent,
    action: 'subscribe to every inbox (_INBOX.>)',
    expect: 'refused',
    run: () => subscribeRefused(ag, '_INBOX.>'),
  },
  {
    who: agent,
    action: 'subscribe to reports (pose as the coordinator)',
    expect: 'refused',
    run: () => subscribeRefused(ag, names.results),
  },
  {
    who: agent,
    action: 'subscribe to events (watch the farm)',
    expect: 'refused',
    run: () => subscribeRefused(ag, names.events),
  },
];

/** Connection-level cases: who may connect at all. */
const CONNECT_CASES: readonly { who: string; action: string; options: () => ConnectionOptions }[] = [
  { who: 'no credentials', action: 'connect over TLS', options: () => options({}) },
  {
    who: 'an unknown nkey',
    action: 'connect over TLS',
    options: () => options({ authenticator: nkeyAuthenticator(nkeys.createUser().getSeed()) }),
  },
  {
    who: 'user/password',
    action: 'connect over TLS',
    options: () => options({ user: 'coordinator', pass: 'guessed-Pw-91' }),
  },
  {
    who: 'coordinator nkey without the CA',
    action: 'connect (server certificate not trusted)',
    options: () => ({ ...options({ authenticator: nkeyAuthenticator(seedOf('coordinator')) }), tls: {} }),
  },
];

const matrix: string[] = [];

describe('NATS permissions of a locked-down farm (real nats-server, auth and TLS on)', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'm2-perm-'));
    const files = await writeNatsSecurity(join(dir, 'auth'), {
      roles: farmRoles([ns], [ARCH, OTHER]),
      hosts: ['127.0.0.1', 'localhost'],
    });
    seeds = files.seeds;
    ca = readFileSync(files.tls.ca, 'utf8');
    server = await startNats({ stateDir: dir, tls: files.tls, authConf: files.authConf });
    co = await connect(options({ authenticator: nkeyAuthenticator(seedOf('coordinator')) }));
    // The coordinator sets up what a run has: the queue and both consumers, state, staging, the
    // repository; it takes events and reports; one job waits per arch.
    coQueue = await JetStreamWorkQueue.open<{ id: string }>(co, {
      stream: names.stream,
      subjectPrefix: names.subjectPrefix,
    });
    for (const a of [ARCH, OTHER]) {
      await coQueue.depth(a);
      await coQueue.publish(a, { id: `job-${a}` }, { msgId: `job-${a}` });
    }
    await NatsStateStore.open(co, names.state, { decode: (v) => v });
    await NatsStateStore.open(co, names.index, { decode: (v) => v });
    await ObjectStaging.open(co, names.staging);
    await new Objm(co).create(names.repo);
    await new Objm(co).create(names.runs);
    await writeRepositoryInfo(co, ns, INFO);
    co.subscribe(names.events, {
      callback: (_e, m) => {
        events.push(m.string());
      },
    });
    co.subscribe(names.results, {
      callback: (_e, m) => {
        m.respond(enc.encode('taken'));
      },
    });
    await co.flush();
    ag = await connect(
      options({
        authenticator: nkeyAuthenticator(seedOf(agent)),
        inboxPrefix: agentRole(ns, ARCH).inboxPrefix!,
      }),
    );
  });

  afterAll(async () => {
    await ag?.close();
    await co?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write(
      `\nNATS permission matrix (namespace ${ns}):\n| who | action | server |\n|---|---|---|\n${matrix.join('\n')}\n`,
    );
  });

  it.each(CASES)('$who: $action → $expect', async (c) => {
    if (c.expect === 'allowed') {
      await c.run();
      matrix.push(`| ${c.who} | ${c.action} | allowed |`);
      return;
    }
    const outcome = await c.run().then(
      (v) => (typeof v === 'string' ? v : undefined),
      (e: unknown) => permissionViolation(e) ?? `not a permission violation: ${(e as Error).message}`,
    );
    expect(outcome, 'the server refuses it with a permission violation').toMatch(/permissions violation/i);
    matrix.push(`| ${c.who} | ${c.action} | refused: ${outcome} |`);
  });

  it.each(CONNECT_CASES)('$who: $action → refused', async (c) => {
    const e = await connect(c.options()).then(
      async (nc) => {
        await nc.close();
        return new Error('connected');
      },
      (x: unknown) => x as Error,
    );
    expect(e.message).not.toBe('connected');
    expect(e.message).not.toContain('guessed-Pw-91');
    matrix.push(`| ${c.who} | ${c.action} | refused: ${e.message} |`);
  });

  it('afterwards: the other arch still has its job, no state or repository was written', async () => {
    expect(await coQueue.depth(OTHER)).toEqual({ pending: 1, leased: 0 });
    expect(await coQueue.depth(ARCH)).toEqual({ pending: 0, leased: 0 });
    const jsm = await jetstreamManager(co);
    expect((await jsm.streams.info(`KV_${names.state}`)).state.messages).toBe(0);
    expect((await jsm.streams.info(`KV_${names.index}`)).state.messages).toBe(0);
    expect((await jsm.streams.info(`OBJ_${names.repo}`)).state.messages).toBe(0);
    expect((await jsm.streams.info(`KV_${names.info}`)).state.messages).toBe(1);
    expect((await jsm.streams.info(`OBJ_${names.runs}`)).state.messages).toBe(0);
    expect((await jsm.streams.info(names.stream)).state.messages).toBe(1);
    // Staged files age out (a coordinator that died leaves them behind).
    expect((await jsm.streams.info(`OBJ_${names.staging}`)).config.max_age).toBe(STAGING_MAX_AGE_MS * 1e6);
  });
});
