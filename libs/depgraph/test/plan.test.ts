import { execFileSync } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildIndexArchive, packageInfo } from '@melange2/apk';
import { describe, expect, it } from 'vitest';
import {
  buildGraph,
  changedConfigs,
  changedFiles,
  type Plan,
  planBuilds,
  publishedState,
  readPublishedIndex,
  scanRepository,
} from '@melange2/depgraph';
import { copyFixture } from './helpers.js';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@e',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@e',
    },
  });

function gitFixture(): string {
  const repo = copyFixture();
  git(repo, 'init', '-q');
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', 'base');
  return repo;
}

/** An x86_64 index in `repo` holding each node's version, read back. */
function publishNodes(repo: string, nodes: readonly { name: string; fullVersion: string }[]) {
  const entries = nodes.map((n) => ({
    ...packageInfo({ name: n.name, version: n.fullVersion, arch: 'x86_64' }),
    checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
    fileSize: 1,
  }));
  const index = join(repo, 'APKINDEX.tar.gz');
  writeFileSync(index, buildIndexArchive({ description: 't', entries }));
  return readPublishedIndex([index]);
}

const summary = (p: Plan) => p.waves.map((w) => w.map((b) => `${b.name} (${b.reasons.join('; ')})`));

describe('planBuilds', () => {
  it('plans everything by default, in waves, dependencies first', async () => {
    const g = buildGraph(await scanRepository(copyFixture(), { cacheDir: false }), { arch: 'x86_64' });
    const p = planBuilds(g, { policy: 'bootstrap' });
    expect(p.total).toBe(17);
    expect(p.waves[0]!.map((b) => b.name)).toContain('busybox');
    expect(p.waves[0]!.map((b) => b.name)).toContain('build-base');
    expect(p.waves.at(-1)!.map((b) => b.name)).toEqual(['app']);
    expect(p.waves[0]![0]!.reasons).toEqual(['full build']);
  });

  it('--changed-since: changed files and changed repository pipelines, with reasons', async () => {
    const repo = gitFixture();
    appendFileSync(join(repo, 'libfoo.yaml'), '# touched\n');
    appendFileSync(join(repo, 'pipelines/local/thing.yaml'), '# touched\n');
    writeFileSync(join(repo, 'new.yaml'), 'package:\n  name: new\n  version: "1"\n  epoch: 0\n');
    const scan = await scanRepository(repo, { cacheDir: false });
    const g = buildGraph(scan, { arch: 'x86_64' });
    const changed = changedConfigs(g.nodes, changedFiles(repo, 'HEAD'));
    expect(changed).toEqual([
      { name: 'app', reason: 'pipeline changed: local/thing' },
      { name: 'libfoo', reason: 'changed' },
      { name: 'new', reason: 'changed' },
    ]);
    expect(summary(planBuilds(g, { changed }))).toEqual([
      ['libfoo (changed)', 'new (changed)'],
      ['app (pipeline changed: local/thing)'],
    ]);
  });

  it('--with-dependents adds the reverse closure, bounded by --max-depth', async () => {
    const repo = gitFixture();
    appendFileSync(join(repo, 'build-base.yaml'), '# touched\n');
    const g = buildGraph(await scanRepository(repo, { cacheDir: false }), { arch: 'x86_64' });
    const changed = changedConfigs(g.nodes, changedFiles(repo, 'HEAD'));
    const all = planBuilds(g, { changed, withDependents: true, policy: 'bootstrap' });
    expect(summary(all)).toEqual([
      ['build-base (changed)', 'busybox (dependency changed: build-base)'],
      ['libfoo (dependency changed: build-base)'],
      ['py3-bar (dependency changed: libfoo)'],
      ['app (dependency changed: libfoo)'],
    ]);
    // busybox and build-base need each other: within the plan that is a cycle, explained.
    expect(all.cycles.map((c) => c.shortest)).toEqual([
      'build-base →[busybox] busybox →[build-base] build-base',
    ]);
    const near = planBuilds(g, { changed, withDependents: true, maxDepth: 1 });
    expect(
      near.waves
        .flat()
        .map((b) => b.name)
        .sort(),
    ).toEqual(['build-base', 'busybox', 'libfoo']);
    // serial (the default without a published index) orders the cycle instead
    expect(near.policy).toBe('serial');
    expect(near.droppedEdges.map((d) => d.cycle)).toEqual([
      'busybox →[build-base] build-base →[busybox] busybox',
    ]);
  });

  it('a config whose version is already published for the arch is up to date', async () => {
    const repo = copyFixture();
    const entries = [
      ['busybox', '1.37.0-r3', 'x86_64'],
      ['zlib', '1.3-r0', 'aarch64'],
      ['helper', '1-r0', 'noarch'],
      ['libfoo', '2.0.0-r0', 'x86_64'],
    ].map(([name, version, arch]) => ({
      ...packageInfo({ name: name!, version: version!, arch: arch! }),
      checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      fileSize: 1,
    }));
    writeFileSync(join(repo, 'APKINDEX.tar.gz'), buildIndexArchive({ description: 't', entries }));
    const published = readPublishedIndex([join(repo, 'APKINDEX.tar.gz')]);
    const g = buildGraph(await scanRepository(repo, { cacheDir: false }), { arch: 'x86_64' });
    const p = planBuilds(g, { published });
    expect(p.policy).toBe('bootstrap');
    expect(p.upToDate).toEqual(['busybox', 'helper']);
    const names = p.waves.flat().map((b) => b.name);
    expect(names).toContain('zlib'); // published for aarch64 only
    expect(names).toContain('libfoo'); // an older version is published
    expect(p.waves.flat().find((b) => b.name === 'libfoo')?.reasons).toEqual(['not published']);
  });

  it('publishedState settles a plan from the configs: nothing left means the graph plan is empty', async () => {
    const repo = copyFixture();
    const scan = await scanRepository(repo, { cacheDir: false });
    const g = buildGraph(scan, { arch: 'x86_64' });
    const published = publishNodes(repo, g.nodes);
    const p = planBuilds(g, { published });
    expect(p.total).toBe(0);
    const all = publishedState(scan.configs, 'x86_64', published);
    expect(all.unpublished.size).toBe(0);
    expect(all.upToDate.map((c) => c.name)).toEqual(p.upToDate);
    expect(all.upToDate.map((c) => c.fullVersion)).toEqual(
      p.upToDate.map((n) => g.nodes[g.index.get(n)!]!.fullVersion),
    );
    // Configs built for aarch64 are not published there.
    expect(publishedState(scan.configs, 'aarch64', published).upToDate).toEqual([]);
  });

  it('resolving only the unpublished configs plans as the whole graph does', async () => {
    const repo = copyFixture();
    const scan = await scanRepository(repo, { cacheDir: false });
    const full = buildGraph(scan, { arch: 'x86_64' });
    // Every other config published: the rest is built, with its dependencies among itself.
    const published = publishNodes(
      repo,
      full.nodes.filter((_, i) => i % 2 === 0),
    );
    const { unpublished } = publishedState(scan.configs, 'x86_64', published);
    expect(unpublished.size).toBeGreaterThan(0);
    const lazy = buildGraph(scan, { arch: 'x86_64', resolveOnly: unpublished });
    expect(lazy.edges.length).toBeLessThan(full.edges.length);
    expect(planBuilds(lazy, { published })).toEqual(planBuilds(full, { published }));
  });

  it('rejects a bad git ref and a file that is not an index, naming them', async () => {
    const repo = gitFixture();
    expect(() => changedFiles(repo, 'no-such-ref')).toThrow(
      /--changed-since no-such-ref: no such commit here/,
    );
    // The git command line stays in `cause`; the error has a code callers map to an exit status.
    expect(() => changedFiles(repo, 'no-such-ref')).toThrow(
      expect.objectContaining({ code: 'CHANGED_SINCE_REF' }),
    );
    writeFileSync(join(repo, 'bogus.tar.gz'), Buffer.from([0x1f, 0x8b, 0, 1, 2]));
    expect(() => readPublishedIndex([join(repo, 'bogus.tar.gz')])).toThrow(/bogus\.tar\.gz/);
  });
});
