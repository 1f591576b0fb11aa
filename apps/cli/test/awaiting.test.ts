// A build never installs an older provider of a package its own run is about to produce
// (issue 15): testdata/awaiting's `user` needs `wrapper` from an appended repository, which
// depends on `tool`; that repository has tool 1.0.0 and the run makes tool 2.0.0. The graph has
// no edge user → tool, so both go at once; user's environment would install tool-1.0.0, the job
// names tool as awaiting, the agent gives it back, and it builds against this run's tool-2.0.0.
// Real BuildKit, and both modes: embedded `build-all` and the coordinator + agents over NATS.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { addToIndexFile, packApk, packageInfo } from '@melange2/apk';
import { startNatsAgent } from '@melange2/agent';
import { natsNames } from '@melange2/protocol';
import { agentAccess, natsConnect, natsNamespaces } from '@melange2/test/harness';
import { apkFile, type OsBootstrap, osBootstrap, ROOT } from '@melange2/test/os';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ObjectRepositoryStore, type RunEvent, runDistributed } from '@melange2/coordinator';
import { runCli } from './cli-helpers-apk.js';
import { osRunArgs } from './test-ports.js';

const d = inject('daemons');

/** testdata/awaiting with a fresh nonce in tool's step (never cached: user resolves while tool builds). */
function freshRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'm2-awaiting-repo-'));
  const nonce = randomBytes(8).toString('hex');
  for (const f of readdirSync(join(ROOT, 'testdata', 'awaiting')).filter((x) => x.endsWith('.yaml')))
    writeFileSync(
      join(dir, f),
      readFileSync(join(ROOT, 'testdata', 'awaiting', f), 'utf8').replace('NONCE', nonce),
    );
  return dir;
}

/** The appended repository: tool 1.0.0 (the older provider) and wrapper, which depends on tool. */
async function appendedRepo(b: OsBootstrap): Promise<string> {
  const repo = join(b.dir, 'appended');
  const tree = join(b.dir, 'tool-1-tree', 'usr', 'share', 'tool');
  mkdirSync(tree, { recursive: true });
  writeFileSync(join(tree, 'version'), 'tool 1.0.0\n');
  const tool = join(repo, 'x86_64', 'tool-1.0.0-r0.apk');
  const wrapper = join(repo, 'x86_64', 'wrapper-1-r0.apk');
  await packApk({
    dir: join(b.dir, 'tool-1-tree'),
    info: packageInfo({ name: 'tool', version: '1.0.0-r0', arch: 'x86_64', description: 'older tool' }),
    signingKey: b.key,
    sourceDateEpoch: 0,
    output: tool,
  });
  await packApk({
    info: packageInfo({ name: 'wrapper', version: '1-r0', arch: 'x86_64', depends: ['tool'] }),
    signingKey: b.key,
    sourceDateEpoch: 0,
    output: wrapper,
  });
  await addToIndexFile(join(repo, 'x86_64', 'APKINDEX.tar.gz'), [tool, wrapper], { signingKey: b.key });
  return repo;
}

describe('a build waits for the provider its own run makes (real BuildKit)', () => {
  let b: OsBootstrap;
  let appended: string;
  beforeAll(async () => {
    b = await osBootstrap(['x86_64']);
    appended = await appendedRepo(b);
  });

  it('embedded build-all: user is given back awaiting tool and builds against tool 2.0.0', {
    timeout: 120_000,
  }, async () => {
    const out = join(b.dir, 'packages-embedded');
    const r = await runCli([
      'build-all',
      freshRepo(),
      '--arch',
      'x86_64',
      '--jobs',
      '2',
      ...osRunArgs(b, out, d.buildkit),
      '--repository-append',
      appended,
    ]);
    expect(r.err).toMatch(
      /x86_64 user-1\.0\.0-r0 waits \(its environment would install an older tool\) for tool@x86_64/,
    );
    expect(r.code).toBe(0);
    expect(await apkFile(join(out, 'x86_64', 'user-1.0.0-r0.apk'), 'usr/share/user/built-with')).toBe(
      'tool 2.0.0\n',
    );
  });

  describe('coordinator and agent over real NATS', () => {
    const nats = natsNamespaces('aw');
    const ns = nats.fresh();

    it('the job names tool as awaiting; the agent gives user back; it goes again once tool is published', {
      timeout: 120_000,
    }, async () => {
      const repo = freshRepo();
      const anc = await natsConnect(await agentAccess(d.nats, ns, 'x86_64'));
      const agent = await startNatsAgent({
        nc: anc,
        ns,
        arch: 'x86_64',
        slots: 2,
        id: 'x86_64-0',
        repoRoot: repo,
        buildkitAddr: d.buildkit.x86_64,
        cacheDir: b.cacheDir,
        heartbeatMs: 500,
      });
      const events: RunEvent[] = [];
      try {
        const r = await runDistributed({
          nc: nats.nc,
          ns,
          repo,
          arches: ['x86_64'],
          signingKey: b.key,
          repositoryAppend: [b.repo, appended],
          cacheDir: false,
          onEvent: (e) => events.push(e),
        });
        expect(r.rows.map((x) => [x.build.name, x.state])).toEqual([
          ['tool', 'succeeded'],
          ['user', 'succeeded'],
        ]);
        expect(events).toContainEqual(
          expect.objectContaining({ type: 'waiting', name: 'tool', on: ['tool@x86_64'] }),
        );
        const store = await ObjectRepositoryStore.open(nats.nc, natsNames(ns).repo);
        const f = await store.open('x86_64', 'user-1.0.0-r0.apk');
        const local = join(mkdtempSync(join(tmpdir(), 'm2-awaiting-')), 'user.apk');
        await writeFile(local, await buffer(f!.stream));
        expect(await apkFile(local, 'usr/share/user/built-with')).toBe('tool 2.0.0\n');
      } finally {
        await agent.close(true);
        await anc.close();
      }
    });
  });
});
