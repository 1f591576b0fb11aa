import { existsSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanKeys, scanRepository } from '@melange2/depgraph';
import { MAX_CONFIG_BYTES } from '@melange2/melange';
import { parseFile } from '@melange2/depgraph/internal';
import { copyFixture, fixtureRepo, tempCacheDir } from './helpers.js';

describe('scanRepository', () => {
  it('reads every top-level config and the pipelines, skipping dotfiles and non-configs', async () => {
    const s = await scanRepository(fixtureRepo, { cacheDir: false });
    const names = s.configs.map((c) => c.name);
    expect(names).toContain('busybox');
    expect(names).not.toContain('broken');
    expect(names).toEqual([...names].sort());
    expect(s.configs.find((c) => c.file === 'notes.yaml')).toBeUndefined();
    expect([...s.pipelines.keys()]).toEqual(['local/thing']);
    expect(s.pipelines.get('local/thing')?.definition.needs?.packages).toEqual(['${{inputs.pkg}}']);
  });

  it('reports a config that fails to parse with file, line and cause, and goes on', async () => {
    const s = await scanRepository(fixtureRepo, { cacheDir: false });
    expect(s.problems).toHaveLength(1);
    const p = s.problems[0]!;
    expect(p.file).toBe('broken.yaml');
    expect(p.line).toBeGreaterThanOrEqual(6);
    expect(p.message).toMatch(/invalid YAML/);
  });

  it('names the field when a config has the wrong shape', () => {
    const r = parseFile(
      'package:\n  name: x\n  version: "1"\nenvironment:\n  contents:\n    packages: busybox\n',
      'x.yaml',
    );
    expect(r.kind).toBe('error');
    if (r.kind === 'error') {
      expect(r.problem.message).toBe('environment.contents.packages: expected a sequence, got "busybox"');
      expect(r.problem.line).toBe(6);
    }
    const noVersion = parseFile('package:\n  name: x\n', 'x.yaml');
    expect(noVersion.kind === 'error' && noVersion.problem.message).toBe(
      'package.version: missing required field "version"',
    );
  });

  it('refuses a file over the size limit before parsing it, by name', async () => {
    const big = `package: { name: big, version: "1" }\n#${'x'.repeat(MAX_CONFIG_BYTES)}\n`;
    const r = parseFile(big, 'big.yaml');
    expect(r.kind === 'error' && r.problem).toMatchObject({ file: 'big.yaml', code: 'CONFIG_TOO_LARGE' });
    const repo = copyFixture();
    const cacheDir = tempCacheDir();
    try {
      writeFileSync(join(repo, 'big.yaml'), big);
      const s = await scanRepository(repo, { cacheDir });
      expect(s.problems.find((p) => p.file === 'big.yaml')).toMatchObject({ code: 'CONFIG_TOO_LARGE' });
    } finally {
      rmSync(dirname(repo), { recursive: true, force: true });
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('keeps range keys as written (3.10 is not 3.1)', () => {
    const r = parseFile(
      'package: {name: p, version: "1"}\ndata:\n  - name: v\n    items:\n      3.10: a\n      3.9: b\n' +
        'subpackages:\n  - range: v\n    name: p-${{range.key}}\n',
      'p.yaml',
    );
    expect(r.kind === 'config' && r.config.subpackages.map((s) => s.name)).toEqual(['p-3.10', 'p-3.9']);
  });

  it('reloads an unchanged repository from the parse cache and re-parses only what changed', async () => {
    const repo = copyFixture();
    const cacheDir = tempCacheDir();
    const cold = await scanRepository(repo, { cacheDir });
    expect(cold.stats.fromCache).toBe(0);
    // The entries and the stat index beside them.
    expect(readdirSync(join(cacheDir, 'depgraph'))).toHaveLength(2);
    const warm = await scanRepository(repo, { cacheDir });
    expect(warm.stats.parsed).toBe(0);
    expect(warm.configs).toEqual(cold.configs);
    expect(warm.problems).toEqual(cold.problems);
    writeFileSync(join(repo, 'zlib.yaml'), 'package:\n  name: zlib\n  version: "1.4"\n  epoch: 0\n');
    const after = await scanRepository(repo, { cacheDir });
    expect(after.stats.parsed).toBe(1);
    expect(after.configs.find((c) => c.name === 'zlib')?.version).toBe('1.4');
  });

  it("gives the files' keys and the problems from the stat index alone while it vouches for exactly the files there are", async () => {
    const repo = copyFixture();
    const cacheDir = tempCacheDir();
    /** Every file of the repository modified an hour ago: the stat index may vouch for it. */
    const age = (dir = repo) => {
      const old = new Date(Date.now() - 3600_000);
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        if (statSync(p).isDirectory()) age(p);
        else utimesSync(p, old, old);
      }
    };
    age();
    expect(scanKeys(repo, cacheDir)).toBeUndefined();
    const s = await scanRepository(repo, { cacheDir });
    const k = scanKeys(repo, cacheDir);
    expect(k?.root).toBe(s.root);
    expect([...(k?.fileKeys ?? [])]).toEqual([...s.fileKeys]);
    expect(k?.problems).toEqual(s.problems);
    expect(s.problems.length).toBeGreaterThan(0);
    // A changed file: not vouched for until a scan has read it (and its mtime is old enough).
    writeFileSync(join(repo, 'zlib.yaml'), 'package:\n  name: zlib\n  version: "1.9"\n  epoch: 0\n');
    expect(scanKeys(repo, cacheDir)).toBeUndefined();
    age();
    const rescanned = await scanRepository(repo, { cacheDir });
    expect(scanKeys(repo, cacheDir)?.fileKeys.get('zlib.yaml')).toBe(rescanned.fileKeys.get('zlib.yaml'));
    expect(rescanned.fileKeys.get('zlib.yaml')).not.toBe(s.fileKeys.get('zlib.yaml'));
    // A file more, or one less, than the index knows.
    writeFileSync(join(repo, 'extra.yaml'), 'package:\n  name: extra\n  version: "1"\n  epoch: 0\n');
    const old = new Date(Date.now() - 3600_000);
    utimesSync(join(repo, 'extra.yaml'), old, old);
    expect(scanKeys(repo, cacheDir)).toBeUndefined();
    rmSync(join(repo, 'extra.yaml'));
    expect(scanKeys(repo, cacheDir)).toBeDefined();
    rmSync(join(repo, 'zlib.yaml'));
    expect(scanKeys(repo, cacheDir)).toBeUndefined();
  });

  it('trusts size+mtime only for files not modified around their last read', async () => {
    const repo = copyFixture();
    const cacheDir = tempCacheDir();
    const old = new Date(Date.now() - 3600_000);
    for (const f of readdirSync(repo)) if (f.endsWith('.yaml')) utimesSync(join(repo, f), old, old);
    await scanRepository(repo, { cacheDir });
    // Same size, different content, mtime moved: must be read again.
    writeFileSync(join(repo, 'zlib.yaml'), 'package:\n  name: zlib\n  version: "1.9"\n  epoch: 0\n');
    const older = new Date(Date.now() - 7200_000);
    utimesSync(join(repo, 'zlib.yaml'), older, older);
    const s = await scanRepository(repo, { cacheDir });
    expect(s.stats.parsed).toBe(1);
    expect(s.configs.find((c) => c.name === 'zlib')?.version).toBe('1.9');
  });

  it('parses on worker threads with the same result as in-process', async () => {
    const inProcess = await scanRepository(fixtureRepo, { cacheDir: false, workers: 0 });
    const threaded = await scanRepository(fixtureRepo, { cacheDir: false, workers: 2, workerThreshold: 1 });
    expect(threaded.stats.workers).toBe(2);
    expect(threaded.configs).toEqual(inProcess.configs);
    expect(threaded.problems).toEqual(inProcess.problems);
  });

  it('fails clearly on a repository that does not exist', async () => {
    await expect(scanRepository(join(fixtureRepo, 'nope'), { cacheDir: false })).rejects.toThrow(
      /cannot read the repository/,
    );
    expect(existsSync(fixtureRepo)).toBe(true);
  });
});
