import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, type SigningKey, signingKeyFromPem } from '@melange2/apk';
import {
  type Coordinator,
  IndexPublisher,
  LocalRepositoryStore,
  type PublisherRecord,
  type RunBuild,
  type RunPlan,
} from '@melange2/coordinator';
import { type BuildJob, type BuildReport, LocalStaging } from '@melange2/protocol';
import { MemoryStateStore } from '@melange2/queue';
import { afterAll, beforeAll } from 'vitest';

/** A planned x86_64 build of `name` (one package of the same name) for coordinator tests. */
export const runBuild = (name: string, deps: string[] = []): RunBuild => ({
  id: `${name}@x86_64`,
  name,
  arch: 'x86_64',
  deps,
  cost: 1,
  reasons: ['not published'],
  version: '1.0-r0',
  configFile: `${name}.yaml`,
  input: `input-${name}`,
  packages: [name],
});

/** A plan of `builds` rooted at `root`, with nothing up to date, excluded or in a cycle. */
const runPlan = (root: string, builds: RunBuild[]): RunPlan => ({
  root,
  builds,
  upToDate: [],
  problems: [],
  cycles: [],
  excluded: new Map(),
});

/** A fresh RSA signing key named `test.rsa.pub`. */
export async function testSigningKey(): Promise<SigningKey> {
  const pair = await generateKeyPair(2048);
  return signingKeyFromPem(pair.privatePem, 'test.rsa.pub');
}

/** An index publisher over the local repository `<dir>/repo`, its records in memory. */
export const localPublisher = (dir: string, signingKey: SigningKey): IndexPublisher =>
  new IndexPublisher({
    store: new LocalRepositoryStore(join(dir, 'repo')),
    signingKey,
    records: new MemoryStateStore<PublisherRecord>(),
  });

type CoordinatorOptions = ConstructorParameters<typeof Coordinator>[0];

/** A temp dir, a signing key and a local index publisher for one test file, made before its tests
 * and removed after them. */
export interface LocalRun {
  readonly dir: string;
  readonly signingKey: SigningKey;
  readonly publisher: IndexPublisher;
}

export function localRun(prefix: string): LocalRun {
  let made: LocalRun | undefined;
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    const signingKey = await testSigningKey();
    made = { dir, signingKey, publisher: localPublisher(dir, signingKey) };
  });
  afterAll(() => {
    if (made) rmSync(made.dir, { recursive: true, force: true });
  });
  const get = (): LocalRun => {
    if (!made) throw new Error('localRun: used outside a test');
    return made;
  };
  return {
    get dir() {
      return get().dir;
    },
    get signingKey() {
      return get().signingKey;
    },
    get publisher() {
      return get().publisher;
    },
  };
}

/** Options of a coordinator for run r1 of `builds` over `run`'s local repository, silent unless
 * `o` says otherwise. */
export const coordinatorOptions = (
  run: LocalRun,
  builds: RunBuild[],
  o: Pick<CoordinatorOptions, 'queue' | 'state'> & Partial<CoordinatorOptions>,
): CoordinatorOptions => ({
  runId: 'r1',
  plan: runPlan(run.dir, builds),
  staging: new LocalStaging(join(run.dir, 'staging')),
  publisher: run.publisher,
  signingKey: run.signingKey,
  published: join(run.dir, 'repo'),
  log: () => {},
  ...o,
});

const succeededOutcome: BuildReport['outcome'] = {
  kind: 'succeeded',
  apks: [],
  steps: { total: 1, cached: 0 },
};

/** Agent a's report on `job`. */
export const reportOn = (job: BuildJob, outcome: BuildReport['outcome'] = succeededOutcome): BuildReport => ({
  runId: job.runId,
  id: job.id,
  attempt: job.attempt,
  token: job.token,
  agent: 'a',
  durationMs: 1,
  outcome,
});
