import { describe, expect, it } from 'vitest';
import { BUILTIN_PIPELINE_DIR, PipelineResolver } from '@melange2/melange';
import { DEFAULT_PATH } from '@melange2/engine/internal';
import { compiled, repo } from './helpers.js';

const stepRuns = (file: string, arch = 'x86_64') =>
  compiled(`${repo}/${file}`, arch).plan.steps.map((s) => s.runs.trim());

describe('substitutions', () => {
  it('resolves every package, targets, context, build, host and vars variable', () => {
    const { plan } = compiled(`${repo}/substitutions.yaml`);
    expect(plan.steps[0]!.runs.trim().split('\n')).toEqual([
      'echo name=subst version=1.2.3 epoch=4',
      'echo full=1.2.3-r4 desc="every substitution variable"',
      'echo destdir=/home/build/melange-out/subst contextdir=/home/build/melange-out/subst outdir=/home/build/melange-out',
      'echo context=subst arch=x86_64 goarch=amd64',
      'echo vars=hello 3.10 mm=1.2 mmu=1_2',
      'echo host=x86_64-pc-linux-gnu rust=x86_64-unknown-linux-gnu doc=/home/build/melange-out/subst-doc',
    ]);
    // Subpackage pipelines have their own contextdir, subpkgdir and context name.
    expect(plan.steps[1]!.runs.trim()).toBe(
      'echo sub=/home/build/melange-out/subst-doc ctx=/home/build/melange-out/subst-doc name=subst-doc subst-doc',
    );
    expect(plan.steps[1]!.context).toBe('subst-doc');
  });

  it('uses Go names for build.goarch and the arch triplets on aarch64', () => {
    const lines = stepRuns('substitutions.yaml', 'aarch64')[0]!.split('\n');
    expect(lines[3]).toBe('echo context=subst arch=aarch64 goarch=arm64');
    expect(lines[5]).toMatch(/^echo host=aarch64-unknown-linux-gnu rust=aarch64-unknown-linux-gnu /);
  });

  it('substitutes environment packages and keeps "3.10" a string', () => {
    const { plan } = compiled(`${repo}/substitutions.yaml`);
    expect(plan.environment.packages).toEqual(['busybox', 'python-3.10']);
    expect(plan.environment.env).toMatchObject({
      FOO: 'bar',
      HOME: '/home/build',
      GOMODCACHE: '/var/cache/melange/gomodcache',
    });
    expect(plan.steps[0]!.env).toMatchObject({ FOO: 'bar', PATH: DEFAULT_PATH });
  });
});

describe('tests', () => {
  it('pins the package under test to the version built', async () => {
    const { compileText } = await import('@melange2/engine');
    const resolver = new PipelineResolver([BUILTIN_PIPELINE_DIR]);
    const text = [
      'package: { name: attr, version: 2.5.1, epoch: 2 }',
      'pipeline: [{ runs: "true" }]',
      'subpackages: [{ name: attr-dev, test: { environment: { contents: { packages: [attr-dev, gcc] } }, pipeline: [{ runs: "true" }] } }]',
      'test: { pipeline: [{ runs: "setfattr --version" }] }',
    ].join('\n');
    const o = compileText(text, 'attr.yaml', { arch: 'x86_64', resolver });
    if (o.status !== 'compiled') throw new Error(o.status);
    expect(o.plan.tests.map((t) => t.environment.packages)).toEqual([
      ['attr=2.5.1-r2'],
      ['attr-dev=2.5.1-r2', 'gcc'],
    ]);
  });

  it("asks for the package by name when a subpackage provides it unversioned (Wolfi's py3-x layout), as melange does", async () => {
    const { compileText } = await import('@melange2/engine');
    const resolver = new PipelineResolver([BUILTIN_PIPELINE_DIR]);
    const text = [
      'package: { name: py3-toml, version: 0.10.2, epoch: 8, dependencies: { provider-priority: 0 } }',
      'vars: { pypi-package: toml }',
      'data: [{ name: py-versions, items: { "3.11": "311", "3.12": "312" } }]',
      'pipeline: [{ runs: "true" }]',
      'subpackages:',
      '  - range: py-versions',
      '    name: py${{range.key}}-${{vars.pypi-package}}',
      '    dependencies: { provider-priority: "${{range.value}}", provides: ["py3-${{vars.pypi-package}}"] }',
      '    pipeline: [{ runs: "true" }]',
      '    test: { pipeline: [{ runs: "true" }] }',
      'test: { pipeline: [{ runs: "true" }] }',
    ].join('\n');
    const o = compileText(text, 'py3-toml.yaml', { arch: 'x86_64', resolver });
    if (o.status !== 'compiled') throw new Error(o.status);
    // The bare name lets the resolver install py3.12-toml (priority 312), not the empty origin.
    expect(o.plan.tests.map((t) => t.environment.packages)).toEqual([
      ['py3-toml'],
      ['py3.11-toml=0.10.2-r8'],
      ['py3.12-toml=0.10.2-r8'],
    ]);
  });
});

describe('ranges', () => {
  it('expands one subpackage per data item in sorted key order, keys as strings', () => {
    const { plan } = compiled(`${repo}/ranges.yaml`);
    expect(plan.packages).toEqual(['ranges', 'py3.10-ranges', 'py3.12-ranges', 'py3.9-ranges']);
    expect(plan.steps.map((s) => s.runs)).toEqual([
      'echo main',
      'echo key=3.10 value=310 dir=/home/build/melange-out/py3.10-ranges',
      'echo key=3.12 value=312 dir=/home/build/melange-out/py3.12-ranges',
      'echo only-on-3.12',
      'echo key=3.9 value=39 dir=/home/build/melange-out/py3.9-ranges',
    ]);
  });
});

describe('conditions', () => {
  it('evaluates if: per arch at compile time, skipping steps, children and subpackages', () => {
    expect(stepRuns('conditions.yaml', 'x86_64')).toEqual([
      'echo on-x86',
      'echo either',
      'echo x86 subpackage',
      'echo fetching',
    ]);
    expect(stepRuns('conditions.yaml', 'aarch64')).toEqual([
      'echo on-arm',
      'echo not-x86',
      'echo either',
      'echo child-of-arm-parent',
    ]);
    const arm = compiled(`${repo}/conditions.yaml`, 'aarch64').plan;
    expect(arm.packages).toEqual(['conditions']);
    expect(arm.skippedSubpackages).toEqual(['conditions-x86-only']);
  });
});

describe('nested pipelines, inputs, working-directory, environment', () => {
  const { plan } = compiled(`${repo}/nested.yaml`);
  const byRuns = (prefix: string) => plan.steps.filter((s) => s.runs.startsWith(prefix));

  it('inherits working-directory (relative to /home/build) and merges environment down the tree', () => {
    const [outer] = byRuns('pwd-outer-child');
    const [inner] = byRuns('pwd-inner-child');
    expect(outer).toMatchObject({ name: 'outer', workdir: '/home/build/src' });
    expect(outer!.env).toMatchObject({ LEVEL: 'outer', KEEP: 'yes' });
    expect(inner).toMatchObject({ workdir: '/abs/dir' });
    expect(inner!.env).toMatchObject({ LEVEL: 'inner', KEEP: 'yes' });
  });

  it('fills input defaults, takes with:, forwards parent inputs into nested uses', () => {
    expect(byRuns('echo hi').map((s) => [s.runs, s.workdir])).toEqual([
      ['echo hi world loud=false', '/home/build'],
      ['echo hi nested loud=true', '/home/build/elsewhere'],
    ]);
    expect(byRuns("echo 'nested").map((s) => s.runs)).toEqual([
      "echo 'nested world' from-world",
      "echo 'nested nested' from-nested",
    ]);
    expect(byRuns("echo 'nested")[0]!.uses).toEqual(['local/greet', 'local/echo']);
    // A uses: step's own environment reaches every step of the pipeline it runs, nested ones too.
    expect(byRuns('echo hi').map((s) => s.env['GREETING'])).toEqual([undefined, 'formal']);
    expect(byRuns("echo 'nested").map((s) => s.env['GREETING'])).toEqual([undefined, 'formal']);
  });

  it('hoists needs.packages of every used pipeline into the build environment', () => {
    expect(plan.environment.packages).toEqual([
      'busybox',
      'greeter-world',
      'greeter-nested',
      'make',
      'repo-strip',
    ]);
  });

  it('prefers the repository pipelines/ over a built-in of the same name', () => {
    expect(byRuns('echo repo strip')).toHaveLength(1);
    const builtinOnly = new PipelineResolver([]);
    expect(builtinOnly.resolve('strip').file).toBe(`${BUILTIN_PIPELINE_DIR}strip.yaml`);
    expect(builtinOnly.resolve('strip').pipeline.needs?.packages).toEqual(['binutils', 'scanelf']);
  });

  it('names steps by name:, then uses:, then the first line of runs', () => {
    expect(plan.steps.map((s) => s.name)).toEqual([
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

  it('checks assertions.required-steps against the steps whose if: held', () => {
    expect(byRuns('echo x')).toHaveLength(1);
  });
});

describe('built-in pipelines', () => {
  const builtins = new PipelineResolver([]);
  const required = [
    'git-checkout',
    'strip',
    'autoconf/configure',
    'autoconf/make',
    'autoconf/make-install',
    'ruby/build',
    'ruby/install',
    'ruby/clean',
    'split/dev',
    'split/manpages',
    'split/alldocs',
    'split/static',
    'split/infodir',
    'split/lib',
    'go/build',
    'go/build/v2',
    'go/install',
    'patch',
    'perl/make',
    'perl/cleanup',
    'fetch',
    'cmake/configure',
    'cmake/build',
    'cmake/install',
    'meson/configure',
    'meson/compile',
    'meson/install',
    'cargo/build',
    'python/build',
    'python/install',
    'python/import',
  ];

  it.each(required)('%s exists, parses and has steps', (name) => {
    const d = builtins.resolve(name);
    expect(d.builtin).toBe(true);
    expect((d.pipeline.pipeline ?? []).length + (d.pipeline.runs ? 1 : 0)).toBeGreaterThan(0);
  });

  it("keeps melange's inputs: required ones, defaults and needs", () => {
    const fetch = builtins.resolve('fetch').pipeline;
    expect(fetch.inputs?.['uri']?.required).toBe(true);
    expect(fetch.inputs?.['strip-components']?.default).toBe('1');
    expect(fetch.needs?.packages).toEqual(['wget']);
    const go = builtins.resolve('go/build').pipeline;
    expect(go.needs?.packages?.[0]).toBe('${{inputs.go-package}}');
    expect(go.inputs?.['packages']?.required).toBe(true);
    expect(builtins.resolve('go/build/v2').pipeline.inputs?.['packages']?.default).toBe('.');
    expect(builtins.resolve('git-checkout').pipeline.inputs?.['depth']?.default).toBe('unset');
  });
});

describe('build options', () => {
  it('--build-option switches vars, environment packages and options.<name>.enabled', async () => {
    const { compileText } = await import('@melange2/engine');
    const { readFileSync } = await import('node:fs');
    const { resolver } = await import('./helpers.js');
    const text = readFileSync(`${repo}/options.yaml`, 'utf8');
    const plain = compileText(text, 'options.yaml', { arch: 'x86_64', resolver });
    const fancy = compileText(text, 'options.yaml', { arch: 'x86_64', resolver, buildOptions: ['fancy'] });
    if (plain.status !== 'compiled' || fancy.status !== 'compiled')
      throw new Error('expected both to compile');
    expect(plain.plan.steps[0]!.runs).toBe('echo flavor=plain enabled=false');
    expect(plain.plan.environment.packages).toEqual(['busybox', 'plain-tools']);
    expect(fancy.plan.steps[0]!.runs).toBe('echo flavor=fancy enabled=true');
    expect(fancy.plan.environment.packages).toEqual(['busybox', 'fancy-tools']);
    const unknown = compileText(text, 'options.yaml', { arch: 'x86_64', resolver, buildOptions: ['nope'] });
    expect(unknown.status === 'failed' && unknown.reason).toMatch(
      /options\.yaml:10:3: error: options: build option "nope" not found \(expected one of: fancy\)/,
    );
  });
});

describe('target-architecture', () => {
  it('a config not built for the arch is NotForArchError with its code, file, arch and targets', async () => {
    const { compileConfig, NotForArchError } = await import('@melange2/engine');
    const { parseConfig } = await import('@melange2/melange');
    const { resolver } = await import('./helpers.js');
    const text = [
      'package: { name: only-arm, version: 1.0.0, epoch: 0, target-architecture: [aarch64] }',
      'pipeline: [{ runs: "true" }]',
      '',
    ].join('\n');
    const parsed = parseConfig(text, 'only-arm.yaml');
    expect(compileConfig(parsed, { arch: 'aarch64', resolver }).arch).toBe('aarch64');
    expect(() => compileConfig(parsed, { arch: 'x86_64', resolver })).toThrow(NotForArchError);
    expect(() => compileConfig(parsed, { arch: 'x86_64', resolver })).toThrow(
      expect.objectContaining({
        code: 'NOT_FOR_ARCH',
        file: 'only-arm.yaml',
        arch: 'x86_64',
        targets: ['aarch64'],
      }),
    );
  });
});
