import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { llb } from '@melange2/buildkit';
import { describe, expect, it } from 'vitest';
import { buildGraph, type PlanStep, SOURCE_LOCAL, type StepGrouping } from '@melange2/engine';
import {
  failedStepIndex,
  groupScript,
  groupSteps,
  MELANGE_CACHE_ID,
  shellQuote,
  stepScript,
} from '@melange2/engine/internal';
import { compiled, repo, testdata } from './helpers.js';

type Exec = {
  meta: { args: string[]; env: string[]; cwd: string; user: string };
  mounts: { dest: string; mountType?: number; cacheOpt?: { ID: string; sharing?: number } }[];
};

function execs(file: string, arch = 'x86_64', grouping?: StepGrouping) {
  const { graph, plan } = compiled(`${repo}/${file}`, arch);
  const g = grouping ? buildGraph(plan, { grouping }) : graph;
  return g.definition
    .ops()
    .filter((o) => o.op.op === 'exec')
    .map((o) => ({
      exec: o.op['exec'] as Exec,
      name: o.metadata?.description?.['llb.customname'],
      platform: o.op['platform'],
    }));
}

describe('stepScript', () => {
  it("sets errexit (no pipefail, as melange's), creates and enters the quoted workdir", () => {
    expect(stepScript({ runs: 'make\n', workdir: "/home/build/it's" })).toBe(
      [
        'set -e',
        "[ -d '/home/build/it'\\''s' ] || mkdir -p '/home/build/it'\\''s'",
        "cd '/home/build/it'\\''s'",
        'make',
        'exit 0',
      ].join('\n'),
    );
    expect(shellQuote("a'b")).toBe("'a'\\''b'");
  });
});

describe('plan → LLB', () => {
  it('runs one exec per step as uid 1000 with sorted env, SOURCE_DATE_EPOCH, HOME and the shared cache mount', () => {
    const ex = execs('nested.yaml', 'x86_64', 'step');
    expect(ex).toHaveLength(9);
    for (const { exec, platform } of ex) {
      expect(exec.meta.args.slice(0, 2)).toEqual(['/bin/sh', '-c']);
      expect(exec.meta.user).toBe('1000:1000');
      expect(exec.meta.cwd).toBe('/home/build');
      const keys = exec.meta.env.map((e) => e.slice(0, e.indexOf('=')));
      expect(keys).toEqual([...keys].sort());
      expect(exec.meta.env).toContain('SOURCE_DATE_EPOCH=315532800');
      expect(exec.meta.env).toContain('HOME=/home/build');
      const cache = exec.mounts.find((m) => m.dest === '/var/cache/melange');
      expect(cache?.cacheOpt?.ID).toBe(MELANGE_CACHE_ID);
      expect(cache?.cacheOpt?.sharing ?? 0).toBe(0); // pb.CacheSharingOpt SHARED
      expect(platform).toMatchObject({ OS: 'linux', Architecture: 'amd64' });
    }
    expect(ex[1]!.exec.meta.args[2]).toContain("cd '/abs/dir'\npwd-inner-child\nexit 0");
    expect(ex[1]!.exec.meta.env).toContain('LEVEL=inner');
    expect(ex.map((e) => e.name)).toEqual([
      'outer',
      'outer',
      'say',
      'uses: local/echo',
      'say',
      'uses: local/echo',
      'uses: autoconf/make',
      'uses: strip',
      'counted',
    ]);
  });

  it('by default runs consecutive steps with the same environment in one exec, each in its own shell', () => {
    const ex = execs('nested.yaml');
    const { plan } = compiled(`${repo}/nested.yaml`);
    expect(ex.length).toBeLessThan(plan.steps.length);
    const groups = groupSteps(plan.steps, 'build');
    expect(groups.some((g) => g.steps.length > 1)).toBe(true);
    expect(ex.map((e) => e.exec.meta.args[2])).toEqual(groups.map((g) => groupScript(g, plan.steps.length)));
    expect(ex.map((e) => e.exec.meta.user)).toEqual(ex.map(() => '1000:1000'));
  });

  it('prepares /home/build and melange-out/<pkg> for the build user, copies the source tree, exports only melange-out', () => {
    const { plan } = compiled(`${repo}/hello.yaml`);
    const g = buildGraph(plan, { source: llb.local(SOURCE_LOCAL) });
    const ops = g.definition.ops();
    const files = ops.filter((o) => o.op.op === 'file');
    const prep = files.find(
      (o) => o.metadata?.description?.['llb.customname'] === 'prepare workspace /home/build',
    )!;
    const text = JSON.stringify(prep.op);
    for (const p of [
      '/home/build',
      '/tmp',
      '/var/cache/melange',
      '/home/build/melange-out/hello',
      '/home/build/melange-out/hello-doc',
    ])
      expect(text).toContain(`"path":"${p}"`);
    expect(text).toContain('"dest":"/home/build"');
    const sources = ops
      .filter((o) => o.op.op === 'source')
      .map((o) => (o.op['source'] as { identifier: string }).identifier);
    expect(sources.sort()).toEqual(['local://environment', 'local://source']);
    const last = files.at(-1)!;
    expect(last.metadata?.description?.['llb.customname']).toBe('export melange-out');
    expect(JSON.stringify(last.op)).toContain('"src":"/home/build/melange-out"');
  });

  it('passes secrets as secret env and secret mounts, never as plain env', () => {
    const { plan } = compiled(`${repo}/hello.yaml`);
    const g = buildGraph(plan, {
      secrets: [
        { id: 'gh', env: 'GITHUB_TOKEN' },
        { id: 'npmrc', path: '/home/build/.npmrc', optional: true },
      ],
    });
    const exec = g.definition.ops().find((o) => o.op.op === 'exec')!.op['exec'] as Exec & {
      secretenv: { ID: string; name: string }[];
    };
    expect(exec.secretenv).toEqual([{ ID: 'gh', name: 'GITHUB_TOKEN', optional: false }]);
    expect(
      exec.mounts.some((m) => m.dest === '/home/build/.npmrc' && m.mountType === 1 /* pb.MountType SECRET */),
    ).toBe(true);
    expect(exec.meta.env.some((e) => e.startsWith('GITHUB_TOKEN='))).toBe(false);
  });

  it('uses the arch platform', () => {
    expect(execs('hello.yaml', 'aarch64')[0]!.platform).toMatchObject({ OS: 'linux', Architecture: 'arm64' });
  });
});

describe('golden digests', () => {
  // Regenerate after an intended change with UPDATE_GOLDEN=1 (and review the diff).
  const goldenFile = `${testdata}golden-digests.json`;
  const cases = ['hello.yaml', 'nested.yaml', 'substitutions.yaml', 'ranges.yaml', 'conditions.yaml'].flatMap(
    (f) => ['x86_64', 'aarch64'].map((arch) => `${f} ${arch}`),
  );
  const actual: Record<string, string> = {};
  for (const c of cases) {
    const [f, arch] = c.split(' ') as [string, string];
    actual[c] = compiled(`${repo}/${f}`, arch).graph.definition.digest;
  }
  // Written only on request: a missing golden file fails instead of approving itself.
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(goldenFile, `${JSON.stringify(actual, null, 2)}\n`);
  const golden = existsSync(goldenFile)
    ? (JSON.parse(readFileSync(goldenFile, 'utf8')) as Record<string, string>)
    : undefined;

  it.each(cases)('%s compiles to the recorded digest', (c) => {
    expect(golden, `${goldenFile} is missing: run with UPDATE_GOLDEN=1 and review it`).toBeDefined();
    expect(actual[c], `no golden digest for ${c}: run with UPDATE_GOLDEN=1`).toBe(golden?.[c]);
  });

  it('is byte-identical across compiles', () => {
    const a = compiled(`${repo}/nested.yaml`).graph.definition.toBytes();
    const b = compiled(`${repo}/nested.yaml`).graph.definition.toBytes();
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });
});

describe('step groups', () => {
  const step = (
    name: string,
    runs: string,
    context = 'p',
    env: Record<string, string> = { A: '1' },
  ): PlanStep => ({
    name,
    context,
    uses: [],
    runs,
    workdir: '/tmp',
    env,
    source: { file: 'x.yaml', path: [] },
  });
  const steps = [
    step('one', 'x=set-in-one; echo one'),
    step('two', 'echo "two sees x=${x:-unset}"; cd /'),
    step('sub', 'pwd', 'p-dev'),
    step('other env', 'true', 'p-dev', { A: '2' }),
  ];

  it('groups consecutive steps by pipeline or build, never across environments', () => {
    const shape = (g: StepGrouping) => groupSteps(steps, g).map((x) => [x.first, x.steps.length]);
    expect(shape('step')).toEqual([
      [0, 1],
      [1, 1],
      [2, 1],
      [3, 1],
    ]);
    expect(shape('pipeline')).toEqual([
      [0, 2],
      [2, 1],
      [3, 1],
    ]);
    expect(shape('build')).toEqual([
      [0, 3],
      [3, 1],
    ]);
  });

  it('one step keeps its own script; a group runs each step in a fresh shell behind a marker', () => {
    const [g] = groupSteps(steps, 'build');
    expect(groupScript(groupSteps(steps, 'step')[0]!, 4)).toBe(stepScript(steps[0]!));
    const r = spawnSync('/bin/sh', ['-c', groupScript(g!, 4)], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')).toEqual([
      '[melange2] step 1/4: one',
      'one',
      '[melange2] step 2/4: two',
      'two sees x=unset',
      '[melange2] step 3/4: sub',
      '/tmp',
      '',
    ]);
  });

  it('the first failing step stops the group with its exit code and is named in the log', () => {
    const failing = [
      step('ok', 'echo fine'),
      step('breaks', 'echo about to fail; exit 7'),
      step('never', 'echo no'),
    ];
    const [g] = groupSteps(failing, 'pipeline');
    const r = spawnSync('/bin/sh', ['-c', groupScript(g!, 3)], { encoding: 'utf8' });
    expect(r.status).toBe(7);
    expect(r.stdout).not.toContain('no\n');
    // On stdout, after the step's own output (see groupScript).
    const tail = r.stdout.trim().split('\n');
    expect(tail.at(-1)).toBe('[melange2] step 2/3 failed with exit code 7');
    expect(failedStepIndex(tail)).toBe(1);
    expect(failedStepIndex(['[melange2] step 1/3: ok', 'fine'])).toBeUndefined();
  });
});
