/**
 * The go/ built-in pipelines as Wolfi's Go configs use them: the compiled step runs under a
 * POSIX shell with a stand-in `go` that records its arguments, so what `go build` receives is
 * checked without a Go toolchain.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileText } from '@melange2/engine';
import { BUILTIN_PIPELINE_DIR, PipelineResolver } from '@melange2/melange';

/** The built-in pipelines only (the fixture repository has a `strip` of its own). */
const resolver = new PipelineResolver([BUILTIN_PIPELINE_DIR]);

const dir = mkdtempSync(join(tmpdir(), 'm2-go-pipelines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The arguments `go` got (one per line) when the config's go step ran in `dir`. */
function goArgs(config: string, step: string): string[] {
  const o = compileText(config, 'go.yaml', { arch: 'x86_64', resolver });
  if (o.status !== 'compiled') throw new Error(`${o.status}: ${'reason' in o ? o.reason : ''}`);
  const go = o.plan.steps.find((s) => s.runs.includes(`go ${step} `));
  if (!go) throw new Error(`no go ${step} step`);
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const log = join(dir, 'args');
  writeFileSync(join(bin, 'go'), `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done >'${log}'\n`);
  chmodSync(join(bin, 'go'), 0o755);
  // Where the step's paths point (targets.contextdir is /home/build/melange-out/<name>): a work dir.
  const work = join(dir, 'work');
  mkdirSync(work, { recursive: true });
  const script = go.runs.replaceAll('/home/build/melange-out', join(work, 'out'));
  execFileSync('/bin/sh', ['-ec', script], {
    cwd: work,
    env: { PATH: `${bin}:/usr/bin:/bin`, SOURCE_DATE_EPOCH: '1700000000', HOME: work },
  });
  return readFileSync(log, 'utf8').trimEnd().split('\n');
}

const ldflagsOf = (args: string[]) => args[args.indexOf('-ldflags') + 1];

const config = (uses: string, withs: string) =>
  [
    'package: { name: gotool, version: 1.2.3, epoch: 0 }',
    'environment: { contents: { packages: [go] } }',
    'pipeline:',
    `  - uses: ${uses}`,
    '    with:',
    ...withs
      .trim()
      .split('\n')
      .map((l) => `      ${l}`),
    '',
  ].join('\n');

describe('go/build ldflags (Wolfi configs use the shell in them)', () => {
  // As fzf, gh, k9s and ~40 other Wolfi configs write them.
  const withs = `
packages: ./cmd/gotool
output: gotool
ldflags: -X main.version=v\${{package.version}} -X main.commit=$(echo abc123) -X main.date=$(date -u -d@\${SOURCE_DATE_EPOCH} "+%Y-%m-%d")`;

  it('go/build expands command substitutions and variables, as melange does', () => {
    const args = goArgs(config('go/build', withs), 'build');
    expect(ldflagsOf(args)).toBe('-w -X main.version=v1.2.3 -X main.commit=abc123 -X main.date=2023-11-14');
    expect(args).toContain('./cmd/gotool');
    expect(args[args.indexOf('-o') + 1]).toMatch(/\/out\/gotool\/usr\/bin\/gotool$/);
  });

  it('go/build/v2 too, and a block scalar (a trailing newline) stays one argument', () => {
    const args = goArgs(config('go/build/v2', `${withs}\nstrip: -s -w`), 'build');
    expect(ldflagsOf(args)).toBe(
      '-s -w -X main.version=v1.2.3 -X main.commit=abc123 -X main.date=2023-11-14',
    );
    const block = goArgs(
      config(
        'go/build/v2',
        'packages: .\noutput: gotool\nldflags: |\n  -X main.Version=${{package.version}}\n',
      ),
      'build',
    );
    expect(ldflagsOf(block)?.trim()).toBe('-w -X main.Version=1.2.3');
  });

  it('go/build/v2 strips the binaries afterwards, as melange has it', () => {
    const o = compileText(config('go/build/v2', 'packages: .\noutput: gotool'), 'go.yaml', {
      arch: 'x86_64',
      resolver,
    });
    if (o.status !== 'compiled') throw new Error(o.status);
    const runs = o.plan.steps.map((s) => s.runs);
    const build = runs.findIndex((r) => r.includes('go build '));
    expect(build).toBeGreaterThanOrEqual(0);
    expect(runs[build + 1]).toMatch(/strip -g "\$f"/);
    expect(o.plan.environment.packages).toEqual(expect.arrayContaining(['binutils', 'scanelf']));
  });

  it('go/install too', () => {
    const args = goArgs(
      config(
        'go/install',
        'package: example.com/gotool\nversion: v1.2.3\nldflags: -X main.commit=$(echo abc123)',
      ),
      'install',
    );
    expect(ldflagsOf(args)).toBe('-w -X main.commit=abc123');
    expect(args.at(-1)).toBe('example.com/gotool@v1.2.3');
  });
});
