import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Definition } from '@melange2/buildkit';
import { describe, expect, it } from 'vitest';
import { runCli } from './cli-helpers-apk.js';

const testdata = fileURLToPath(new URL('../../../testdata/engine/', import.meta.url));
const repo = `${testdata}repo`;
const bad = `${testdata}bad`;
const golden = JSON.parse(readFileSync(`${testdata}golden-digests.json`, 'utf8')) as Record<string, string>;
const buildctl = fileURLToPath(new URL('../../../.tools/bin/buildctl', import.meta.url));

/** Runs `melange2-orch …` in-process, capturing stdout as bytes (the Definition is binary). */
/** The CLI with stdout as bytes: a Definition is binary. */
async function run(args: string[]): Promise<{ code: number; out: Buffer; err: string }> {
  const r = await runCli(args);
  return { code: r.code, out: r.bytes, err: r.err };
}

describe('melange2-orch compile', () => {
  it('writes the Definition bytes, with the golden digest, readable by buildctl debug dump-llb', async () => {
    const r = await run(['compile', `${repo}/nested.yaml`, '--arch', 'aarch64']);
    expect(r.code).toBe(0);
    const def = Definition.fromBytes(r.out);
    expect(def.digest).toBe(golden['nested.yaml aarch64']);
    if (existsSync(buildctl)) {
      const dump = spawnSync(buildctl, ['debug', 'dump-llb'], { input: r.out });
      expect(dump.status).toBe(0);
      expect(dump.stdout.toString()).toMatch(/"llb.customname":"[^"]*\(\d+ steps\)"/);
      expect(dump.stdout.toString()).toContain('uses: local/echo');
    }
  });

  it('--json prints the plan and the ops', async () => {
    const r = await run(['compile', `${repo}/hello.yaml`, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out.toString());
    expect(j.package).toEqual({ name: 'hello', version: '1.0', epoch: 0, fullVersion: '1.0-r0' });
    expect(j.packages).toEqual(['hello', 'hello-doc']);
    expect(j.steps.map((s: { name: string }) => s.name)).toEqual([
      'write',
      'hello-doc: mkdir -p /home/build/melange-out/hello-doc/usr/share/doc',
    ]);
    // testdata/engine/repo/hello/ is the package's source tree, so the graph copies it in.
    expect(j.sourceDir).toMatch(/testdata\/engine\/repo\/hello$/);
    expect(
      j.ops.some(
        (o: { op: { source?: { identifier: string } } }) => o.op.source?.identifier === 'local://source',
      ),
    ).toBe(true);
  });

  it('--all compiles every config of a repository and prints compiled N/M', async () => {
    const r = await run(['compile', repo, '--all', '--arch', 'x86_64']);
    expect(r.code).toBe(0);
    const n = readdirSync(repo).filter((f) => f.endsWith('.yaml')).length;
    expect(r.out.toString()).toMatch(new RegExp(`^compiled ${n}/${n} for x86_64 in [\\d.]+s\n$`));
  });

  it('--all reports one line per failure with its reason and exits 1', async () => {
    const r = await run(['compile', bad, '--all', '--pipeline-dir', `${repo}/pipelines`]);
    expect(r.code).toBe(1);
    const lines = r.out.toString().trim().split('\n');
    expect(lines.at(-1)).toMatch(/^compiled 1\/15 for x86_64 in [\d.]+s$/);
    expect(lines.filter((l) => l.startsWith('FAILED '))).toHaveLength(14);
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^FAILED .*bad\/missing-input\.yaml: .*missing-input\.yaml:6:11: error: pipeline\[0\]\.uses: required input "uri"/,
      ),
    );
  });

  it('a bad config prints every error located and exits 1', async () => {
    const r = await run(['compile', `${bad}/wrong-types.yaml`]);
    expect(r.code).toBe(1);
    expect(r.out.length).toBe(0);
    expect(r.err.trim().split('\n')).toEqual([
      expect.stringMatching(
        /wrong-types\.yaml:4:10: error: package\.epoch: expected an integer, got "first"$/,
      ),
      expect.stringMatching(
        /wrong-types\.yaml:7:15: error: environment\.contents\.packages: expected a sequence/,
      ),
      expect.stringMatching(
        /wrong-types\.yaml:10:7: error: pipeline\[0\]\.runs: expected a string, got a sequence$/,
      ),
    ]);
  });

  it('warns about unknown keys on stderr and still compiles', async () => {
    const r = await run(['compile', `${bad}/unknown-key.yaml`, '--json']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/unknown-key\.yaml:5:3: warning: package\.homepage: unknown key "homepage"/);
  });

  it('--build-option enables a build option of the config', async () => {
    const r = await run(['compile', `${repo}/options.yaml`, '--build-option', 'fancy', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out.toString()).environment.packages).toEqual(['busybox', 'fancy-tools']);
    const bad = await run(['compile', `${repo}/options.yaml`, '--build-option', 'nope']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/build option "nope" not found/);
  });

  it('rejects bad usage with exit 2', async () => {
    expect((await run(['compile', `${repo}/hello.yaml`, '--arch', 'riscv64'])).code).toBe(2);
    const dir = await run(['compile', repo]);
    expect(dir.code).toBe(2);
    expect(dir.err).toMatch(/is a directory: give a config file, or --all/);
    expect((await run(['compile', `${repo}/hello.yaml`, '--all'])).code).toBe(2);
    expect((await run(['compile', `${repo}/nope.yaml`])).code).toBe(2);
  });
});
