import { execFileSync } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildIndexArchive, packageInfo } from '@melange2/apk';
import { describe, expect, it } from 'vitest';
import { copyFixture, fixtureRepo, run } from './depgraph-cli.js';

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd,
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@e',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@e',
    },
  });

interface PlanJson {
  plans: {
    arch: string;
    policy: string;
    waves: { name: string; reasons: string[] }[][];
    upToDate: string[];
  }[];
}

describe('melange2-orch plan', () => {
  it('--changed-since --with-dependents: the waves with the reason for each build', async () => {
    const repo = copyFixture();
    git(repo, 'init', '-q');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'base');
    appendFileSync(join(repo, 'libfoo.yaml'), '# bump\n');
    const r = await run([
      'plan',
      repo,
      '--no-parse-cache',
      '--changed-since',
      'HEAD',
      '--with-dependents',
      '--format',
      'json',
    ]);
    expect(r.code).toBe(1); // broken.yaml does not parse; the plan is printed all the same
    const j = JSON.parse(r.out) as PlanJson;
    expect(j.plans[0]!.waves.map((w) => w.map((b) => `${b.name}: ${b.reasons.join('; ')}`))).toEqual([
      ['libfoo: changed'],
      ['py3-bar: dependency changed: libfoo'],
      ['app: dependency changed: libfoo'],
    ]);
    const text = await run([
      'plan',
      repo,
      '--no-parse-cache',
      '--changed-since',
      'HEAD',
      '--arch',
      'x86_64,aarch64',
    ]);
    expect(text.out).toContain('plan for x86_64: 1 build in 1 wave');
    expect(text.out).toContain('plan for aarch64: 1 build in 1 wave');
    expect(text.out).toContain('libfoo-2.0.1-r1  (changed)');
  });

  it('--published skips what is already published and defaults to the bootstrap policy', async () => {
    const repo = copyFixture();
    const entries = [
      {
        ...packageInfo({ name: 'busybox', version: '1.37.0-r3', arch: 'x86_64' }),
        checksum: 'Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=',
        fileSize: 1,
      },
    ];
    const index = join(repo, 'APKINDEX.tar.gz');
    writeFileSync(index, buildIndexArchive({ description: 'test', entries }));
    const r = await run(['plan', repo, '--no-parse-cache', '--published', index, '--format', 'json']);
    expect(r.code).toBe(1); // broken.yaml does not parse; the plan is printed all the same
    const p = (JSON.parse(r.out) as PlanJson).plans[0]!;
    expect(p.policy).toBe('bootstrap');
    expect(p.upToDate).toEqual(['busybox']);
    expect(p.waves.flat().every((b) => b.reasons.includes('not published'))).toBe(true);
  });

  it('reports bad input as usage errors that name it', async () => {
    const bad = await run(['plan', fixtureRepo, '--no-parse-cache', '--changed-since', 'HEAD~100000']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--changed-since HEAD~100000/);
    const policy = await run(['plan', fixtureRepo, '--cycle-policy', 'random']);
    expect(policy.code).toBe(2);
    expect(policy.err).toMatch(/--cycle-policy: expected bootstrap or serial, got "random"/);
    const depth = await run(['plan', fixtureRepo, '--max-depth', '2']);
    expect(depth.code).toBe(2);
    const idx = await run(['plan', fixtureRepo, '--published', join(fixtureRepo, 'zlib.yaml')]);
    expect(idx.code).toBe(2);
    expect(idx.err).toMatch(/zlib\.yaml/);
  });
});
