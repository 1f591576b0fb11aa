import { join } from 'node:path';
import { generateKeyPair, type SigningKey, signingKeyFromPem } from '@melange2/apk';
import {
  IndexPublisher,
  LocalRepositoryStore,
  type PublisherRecord,
  type RunBuild,
  type RunPlan,
} from '@melange2/coordinator';
import { MemoryStateStore } from '@melange2/queue';

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
export const runPlan = (root: string, builds: RunBuild[]): RunPlan => ({
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
