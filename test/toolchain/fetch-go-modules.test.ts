import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * scripts/fetch-go-modules with the host's go against a module proxy in a directory (GOPROXY=file://):
 * a Go config's tarball in the cache dir, its go.sum naming one module, and a proxy that serves
 * that module as it is and, for a second config, altered.
 */
const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const script = join(root, 'scripts', 'fetch-go-modules');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const hasGo = (() => {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Go's dirhash "h1:" of files (name → content): sha256 of the sorted "<sha256>  <name>" lines. */
function h1(files: Record<string, string>): string {
  const lines = Object.keys(files)
    .sort()
    .map((n) => `${sha256(files[n]!)}  ${n}\n`)
    .join('');
  return `h1:${createHash('sha256').update(lines).digest('base64')}`;
}

const MOD = 'example.com/greet';
const VER = 'v1.0.0';
const modFile = `module ${MOD}\n\ngo 1.19\n`;
const goodSrc = 'package greet\n\nfunc Hello() string { return "hello" }\n';

let dir: string;
let cache: string;
let proxy: string;

/** A module zip for the proxy (python3's zipfile: Go reads plain deflate zips). */
function moduleZip(dest: string, files: Record<string, string>): void {
  const py = [
    'import sys, zipfile, json',
    'files = json.loads(sys.argv[2])',
    'with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:',
    '    [z.writestr(n, c) for n, c in sorted(files.items())]',
  ].join('\n');
  execFileSync('python3', ['-c', py, dest, JSON.stringify(files)]);
}

/** Serves `version` of MOD with `src` as greet.go under proxy/<name>. */
function proxyDir(name: string, src: string): string {
  const at = join(dir, name, MOD, '@v');
  mkdirSync(at, { recursive: true });
  writeFileSync(join(at, 'list'), `${VER}\n`);
  writeFileSync(join(at, `${VER}.info`), JSON.stringify({ Version: VER, Time: '2024-01-01T00:00:00Z' }));
  writeFileSync(join(at, `${VER}.mod`), modFile);
  const prefix = `${MOD}@${VER}/`;
  moduleZip(join(at, `${VER}.zip`), { [`${prefix}go.mod`]: modFile, [`${prefix}greet.go`]: src });
  return join(dir, name);
}

/** A Go config whose fetched tarball (in the cache dir) is a module requiring MOD at VER. */
function goConfig(name: string): string {
  const src = join(dir, `src-${name}`, `${name}-1.0`);
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, 'go.mod'), `module example.com/${name}\n\ngo 1.19\n\nrequire ${MOD} ${VER}\n`);
  const sum = {
    zip: h1({ [`${MOD}@${VER}/go.mod`]: modFile, [`${MOD}@${VER}/greet.go`]: goodSrc }),
    mod: h1({ 'go.mod': modFile }),
  };
  writeFileSync(join(src, 'go.sum'), `${MOD} ${VER} ${sum.zip}\n${MOD} ${VER}/go.mod ${sum.mod}\n`);
  writeFileSync(
    join(src, 'main.go'),
    `package main\n\nimport "${MOD}"\n\nfunc main() { println(greet.Hello()) }\n`,
  );
  const tarball = join(dir, `${name}.tar.gz`);
  execFileSync('tar', ['-czf', tarball, '-C', join(dir, `src-${name}`), `${name}-1.0`]);
  const tsum = sha256(readFileSync(tarball));
  copyFileSync(tarball, join(cache, `sha256:${tsum}`));
  const config = join(dir, `${name}.yaml`);
  writeFileSync(
    config,
    [
      `package: { name: ${name}, version: "1.0", epoch: 0 }`,
      'pipeline:',
      '  - uses: fetch',
      '    with:',
      `      uri: https://example.invalid/${name}-1.0.tar.gz`,
      `      expected-sha256: ${tsum}`,
      '  - uses: go/build',
      '    with:',
      '      packages: .',
      `      output: ${name}`,
      '',
    ].join('\n'),
  );
  return config;
}

async function fetchGoModules(goproxy: string, ...configs: string[]) {
  const env = { ...process.env, GOPROXY: `file://${goproxy}`, GOSUMDB: 'off', GOFLAGS: '-mod=vendor' };
  try {
    const r = await run('bash', [script, '--out', cache, ...configs], { env });
    return { code: 0, ...r };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'm2-fetchgomod-'));
  cache = join(dir, 'cache');
  mkdirSync(cache);
  proxy = proxyDir('proxy', goodSrc);
});
afterAll(() => {
  if (!dir) return;
  execFileSync('chmod', ['-R', 'u+w', dir]);
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasGo)('scripts/fetch-go-modules', () => {
  it('seeds gomodcache with what go.sum names, checked, and stamps the source so the next run fetches nothing', async () => {
    const config = goConfig('hello');
    const r = await fetchGoModules(proxy, config);
    expect(r.stderr).toContain('all modules verified');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('hello . 1');
    const mc = join(cache, 'gomodcache');
    expect(readdirSync(join(mc, 'cache/download', MOD, '@v')).sort()).toEqual(
      expect.arrayContaining([`${VER}.mod`, `${VER}.zip`, `${VER}.ziphash`]),
    );
    expect(existsSync(join(mc, `${MOD}@${VER}`, 'greet.go'))).toBe(true);
    // The caller's GOFLAGS (here -mod=vendor, which would fail without a vendor dir) is not used.
    // The stamp lives outside gomodcache (builds are sent gomodcache whole).
    expect(readdirSync(join(cache, '.go-seeded'))).toHaveLength(1);
    // Stamped: a proxy that has nothing is not asked.
    const again = await fetchGoModules(join(dir, 'empty'), config);
    expect(again).toMatchObject({ code: 0, stdout: '' });
  });

  it('fails when the proxy serves a module that is not what go.sum says', async () => {
    const tampered = proxyDir('tampered', 'package greet\n\nfunc Hello() string { return "pwned" }\n');
    const config = goConfig('victim');
    // A fresh module cache: the good copy from the first test would hide the proxy.
    execFileSync('chmod', ['-R', 'u+w', join(cache, 'gomodcache')]);
    rmSync(join(cache, 'gomodcache'), { recursive: true, force: true });
    const out = await fetchGoModules(tampered, config);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/checksum mismatch|SECURITY ERROR/);
    expect(out.stderr).toContain('victim: go mod download/verify failed in .');
    expect(existsSync(join(cache, 'gomodcache', `${MOD}@${VER}`, 'greet.go'))).toBe(false);
  });

  it('does nothing for configs without a go/build step', async () => {
    const config = join(dir, 'plain.yaml');
    writeFileSync(config, 'package: { name: plain, version: "1", epoch: 0 }\npipeline: [{ runs: "true" }]\n');
    expect(await fetchGoModules(join(dir, 'empty'), config)).toMatchObject({ code: 0, stdout: '' });
  });
});
