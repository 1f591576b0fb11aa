import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '@melange2/melange';
import { bad, compiled, failed } from './helpers.js';

/** The first error of a bad fixture as the user sees it: `file:line:col: error: path: message`. */
const firstError = (name: string) => formatDiagnostic(failed(`${bad}/${name}`).diagnostics[0]!);

describe('bad configs give errors with file, line, column and what was expected', () => {
  it('a missing package.version', () => {
    expect(firstError('missing-version.yaml')).toBe(
      'bad/missing-version.yaml:2:3: error: package.version: missing required field "version"',
    );
  });

  it('wrong types, every one reported', () => {
    const ds = failed(`${bad}/wrong-types.yaml`).diagnostics.map(formatDiagnostic);
    expect(ds).toEqual([
      'bad/wrong-types.yaml:4:10: error: package.epoch: expected an integer, got "first"',
      'bad/wrong-types.yaml:7:15: error: environment.contents.packages: expected a sequence, got "busybox"',
      'bad/wrong-types.yaml:10:7: error: pipeline[0].runs: expected a string, got a sequence',
    ]);
  });

  it('an unknown uses: names every directory searched', () => {
    const e = firstError('unknown-uses.yaml');
    expect(e).toMatch(
      /^bad\/unknown-uses\.yaml:7:11: error: pipeline\[1\]\.uses: unknown pipeline "does\/not-exist"/,
    );
    expect(e).toContain('testdata/engine/repo/pipelines/does/not-exist.yaml');
    expect(e).toMatch(/libs\/melange\/pipelines\/does\/not-exist\.yaml\)$/);
  });

  it('a required pipeline input not given (built-in and repository pipelines)', () => {
    expect(firstError('missing-input.yaml')).toBe(
      'bad/missing-input.yaml:6:11: error: pipeline[0].uses: required input "uri" for pipeline "fetch" is missing',
    );
    expect(firstError('bad-pipeline-input.yaml')).toBe(
      'bad/bad-pipeline-input.yaml:6:11: error: pipeline[0].uses: required input "who" for pipeline "local/greet" is missing',
    );
  });

  it('an input the pipeline does not define', () => {
    expect(firstError('undefined-input.yaml')).toBe(
      'bad/undefined-input.yaml:8:13: error: pipeline[0].with.opts: undefined input "opts" to pipeline "strip" (it takes no inputs)',
    );
  });

  it('a checksum input of the wrong length', () => {
    expect(firstError('bad-sha.yaml')).toBe(
      'bad/bad-sha.yaml:9:24: error: pipeline[0].with.expected-sha256: input "expected-sha256" must be 64 hexadecimal digits, got "abc"',
    );
  });

  it('an unknown ${{…}} in runs points at the reference inside the block', () => {
    expect(firstError('unknown-variable.yaml')).toBe(
      'bad/unknown-variable.yaml:10:12: error: pipeline[0].runs: variable vars.unknown not defined',
    );
  });

  it('a var-transform that is not a Go regular expression', () => {
    expect(firstError('bad-regex.yaml')).toMatch(
      /^bad\/bad-regex\.yaml:7:12: error: var-transforms\[0\]\.match: invalid regular expression "\(\?<=1\)\\\\\.": error parsing regexp: .*\(expected a Go regular expression\)$/,
    );
  });

  it('a range naming no data entry', () => {
    expect(firstError('undefined-range.yaml')).toBe(
      'bad/undefined-range.yaml:12:12: error: subpackages[0].range: undefined range "thigns" (expected the name of a data entry: things)',
    );
  });

  it('an if: that does not parse', () => {
    expect(firstError('bad-if.yaml')).toMatch(
      /^bad\/bad-if\.yaml:7:9: error: pipeline\[1\]\.if: cannot evaluate if: expected == or != but found "= "/,
    );
  });

  it('invalid YAML', () => {
    expect(firstError('yaml-syntax.yaml')).toBe(
      'bad/yaml-syntax.yaml:4:4: error: invalid YAML: bad indentation of a mapping entry',
    );
  });

  it('uses and runs in one step, duplicate subpackages', () => {
    expect(firstError('uses-and-runs.yaml')).toBe(
      'bad/uses-and-runs.yaml:7:11: error: pipeline[0].runs: a step cannot have both uses (strip) and runs',
    );
    expect(firstError('duplicate-subpackage.yaml')).toBe(
      'bad/duplicate-subpackage.yaml:9:11: error: subpackages[1].name: duplicate subpackage name "dup-doc" (also subpackages[0])',
    );
  });

  it('unknown keys are warnings, located at the key, and the config still compiles', () => {
    const o = compiled(`${bad}/unknown-key.yaml`);
    expect(o.plan.warnings.map(formatDiagnostic)).toEqual([
      expect.stringMatching(
        /^bad\/unknown-key\.yaml:5:3: warning: package\.homepage: unknown key "homepage" \(expected one of: name, version/,
      ),
      expect.stringMatching(/^bad\/unknown-key\.yaml:6:1: warning: pipelines: unknown key "pipelines"/),
    ]);
    expect(o.plan.steps.map((s) => s.runs)).toEqual(['echo ok']);
  });
});

describe('paths in messages', () => {
  it('quote keys that would read as a path (range items such as "3.10")', async () => {
    const { formatPath } = await import('@melange2/melange');
    expect(formatPath(['data', 0, 'items', '3.10'])).toBe('data[0].items["3.10"]');
    expect(formatPath(['pipeline', 2, 'with', 'expected-sha256'])).toBe('pipeline[2].with.expected-sha256');
    expect(formatPath([])).toBe('(document)');
  });

  it('a missing package.name is an error at the package section', async () => {
    const { compileText } = await import('@melange2/engine');
    const { resolver } = await import('./helpers.js');
    const o = compileText('package:\n  version: "1"\npipeline:\n  - runs: "true"\n', 'noname.yaml', {
      arch: 'x86_64',
      resolver,
    });
    expect(o.status).toBe('failed');
    if (o.status === 'failed')
      expect(formatDiagnostic(o.diagnostics[0]!)).toBe(
        'noname.yaml:2:3: error: package.name: missing required field "name"',
      );
  });
});
