/**
 * melange's --cache-dir and git mirrors on a real daemon: a seeded fetch needs no network and
 * sends only what it names, a download lands in the cache directory for the next build, and a
 * git-checkout of a tag with an expected commit builds from a bare mirror.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BuildkitClient } from '@melange2/buildkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type BuildResult, buildPackage, type CommonRequest } from '@melange2/engine';
import { checksumNames, mirrorPath, namedEntries } from '@melange2/engine/internal';
import { type Bootstrap, bootstrap, packGitAndWget } from './bootstrap.js';
import { apkEntries, apkText, config, spdxValidator, validateSpdx } from './helpers.js';

const SDE = 1700000000;
let b: Bootstrap;
let client: BuildkitClient;
let tools: string;
let tarball: Buffer;
let sum: string;

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
    cwd,
    encoding: 'utf8',
  }).trim();

beforeAll(async () => {
  b = await bootstrap();
  client = await BuildkitClient.connect(inject('daemons').buildkit.x86_64);
  tools = join(b.dir, 'tools');
  await packGitAndWget(tools, b.signingKey);
  // The source archive: one file under a top directory (fetch strips one component).
  const src = join(b.dir, 'tar', 'cachefetch-1.0.0');
  mkdirSync(src, { recursive: true });
  // A nonce: a daemon shared across runs must not have the fetch step cached already.
  writeFileSync(join(src, 'hello.txt'), `hello from the archive ${randomBytes(8).toString('hex')}\n`);
  // Uncompressed: the test environment's busybox tar reads no gzip.
  execFileSync('tar', ['-cf', join(b.dir, 'src.tar'), '-C', join(b.dir, 'tar'), 'cachefetch-1.0.0']);
  tarball = readFileSync(join(b.dir, 'src.tar'));
  sum = createHash('sha256').update(tarball).digest('hex');
});

afterAll(async () => {
  client?.close();
  if (b) await rm(b.dir, { recursive: true, force: true });
});

function req(name: string, extra: Partial<CommonRequest> = {}): CommonRequest {
  return {
    configFile: config(name),
    arch: 'x86_64',
    client,
    outDir: join(b.dir, `packages-${name}`),
    signingKey: b.signingKey,
    repositoryAppend: [b.repo, tools],
    cacheDir: b.cacheDir,
    sourceDateEpoch: SDE,
    ...extra,
  };
}

const names = (r: BuildResult) => r.solve.vertices.map((v) => v.name);
const fileOf = async (r: BuildResult, path: string) =>
  (await apkEntries(r.apks[0]!.path)).some((e) => e.name === path);

describe('--cache-dir', () => {
  it('finds the names the steps use: 64/128-hex words as sha256:/sha512:, repository URLs as mirrors', () => {
    const a = 'a'.repeat(64);
    const c = 'c'.repeat(128);
    const steps = [{ runs: `sha256='${a}'\nsha512='${c}'\nnot=${'d'.repeat(65)}` }];
    expect(checksumNames({ steps } as never)).toEqual([`sha256:${a}`, `sha512:${c}`]);
    expect(mirrorPath('https://github.com/madler/zlib.git')).toBe('github.com/madler/zlib.git');
    expect(mirrorPath('git://u@host:9418/a/b/')).toBe('host/a/b.git');
    expect(mirrorPath('https://host/../etc')).toBeUndefined();
    const env = { GOMODCACHE: '/var/cache/melange/gomodcache', PIP_CACHE_DIR: '/var/cache/melange/pip' };
    const used = [
      { runs: 'cat /var/cache/melange/go/seed; cp x "/var/cache/melange/sha256:$s"', env },
      { runs: 'go build ./...', env },
      { runs: 'make', env },
    ];
    expect(namedEntries({ steps: used } as never)).toEqual(['go', 'gomodcache', 'sha256:']);
    // A tool named in a comment is prose, not a use: no language cache is sent for it.
    const prose = [{ runs: '# include directories go with the headers\n  # or python\nmake install', env }];
    expect(namedEntries({ steps: prose } as never)).toEqual([]);
  });

  it('a seeded fetch needs no network and sends only the file it names', async () => {
    const cache = join(b.dir, 'cache-seeded');
    mkdirSync(cache, { recursive: true });
    writeFileSync(join(cache, `sha256:${sum}`), tarball);
    // Unrelated entries the build must not send: a large download of another package, a directory.
    const other = randomBytes(4 << 20);
    writeFileSync(join(cache, `sha256:${createHash('sha256').update(other).digest('hex')}`), other);
    mkdirSync(join(cache, 'gomodcache', 'x'), { recursive: true });
    writeFileSync(join(cache, 'gomodcache', 'x', 'big'), randomBytes(2 << 20));
    const r = await buildPackage({
      ...req('cachefetch'),
      // Nothing answers for that name here: only the cache can satisfy the fetch.
      vars: { uri: 'https://downloads.example.org/cachefetch-1.0.0.tar', sha256: sum },
      buildCacheDir: cache,
    });
    expect(await fileOf(r, 'usr/share/cachefetch/hello.txt')).toBe(true);
    expect(names(r)).toContain('build cache: 1 entry');
    expect(r.bytesSent).toBeLessThan(2 << 20);
    // Nothing new was written: the cache directory holds what it held.
    expect(readdirSync(cache).sort()).toHaveLength(3);
    // The SBOM validates (spdx-tools wants a download location with a domain name).
    const pyspdx = spdxValidator();
    const sbom = await apkText(r.apks[0]!.path, 'var/lib/db/sbom/cachefetch-1.0.0-r0.spdx.json');
    expect(JSON.parse(sbom!).packages.map((p: { downloadLocation: string }) => p.downloadLocation)).toContain(
      'https://downloads.example.org/cachefetch-1.0.0.tar',
    );
    if (pyspdx) validateSpdx(pyspdx, sbom!, b.dir);
  });

  it('a download lands in the cache directory, and the next build uses it offline', async () => {
    const server = createServer((q, res) => {
      if (q.url !== '/cachefetch-1.0.0.tar') return res.writeHead(404).end();
      res.writeHead(200, { 'content-length': String(tarball.length) }).end(tarball);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cachefetch-1.0.0.tar`;
    const cache = join(b.dir, 'cache-empty');
    mkdirSync(cache, { recursive: true });
    try {
      const r = await buildPackage({
        ...req('cachefetch'),
        vars: { uri, sha256: sum },
        buildCacheDir: cache,
      });
      expect(await fileOf(r, 'usr/share/cachefetch/hello.txt')).toBe(true);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    }
    expect(readFileSync(join(cache, `sha256:${sum}`)).equals(tarball)).toBe(true);
    // The export's cache tree is not left among the packages' directories.
    expect(readdirSync(cache).filter((n) => n.startsWith('.'))).toEqual([]);
    // The server is gone: the second build (its seed differs, so the fetch runs again) is offline.
    const again = await buildPackage({
      ...req('cachefetch', { outDir: join(b.dir, 'packages-cachefetch-2') }),
      vars: { uri, sha256: sum },
      buildCacheDir: cache,
    });
    expect(names(again)).toContain('build cache: 1 entry');
    expect(await fileOf(again, 'usr/share/cachefetch/hello.txt')).toBe(true);
    // The SBOM names the download as the package's source, with its checksum.
    const sbom = (await apkText(again.apks[0]!.path, 'var/lib/db/sbom/cachefetch-1.0.0-r0.spdx.json'))!;
    const doc = JSON.parse(sbom);
    const src = doc.packages.find(
      (p: { primaryPackagePurpose: string }) => p.primaryPackagePurpose === 'SOURCE',
    );
    expect(src).toMatchObject({
      downloadLocation: uri,
      checksums: [{ algorithm: 'SHA256', checksumValue: sum }],
    });
    expect(doc.relationships).toContainEqual(
      expect.objectContaining({ relationshipType: 'GENERATED_FROM', relatedSpdxElement: src.SPDXID }),
    );
  });
});

describe('--git-mirror', () => {
  it('git-checkout of a tag with an expected commit builds offline from a bare mirror', async () => {
    const work = join(b.dir, 'git-work');
    mkdirSync(work, { recursive: true });
    git(work, 'init', '-q', '-b', 'main');
    writeFileSync(join(work, 'README'), `project ${randomBytes(8).toString('hex')}\n`);
    git(work, 'add', 'README');
    git(work, 'commit', '-q', '-m', 'release');
    git(work, 'tag', '-a', 'v1.0.0', '-m', 'v1.0.0');
    const commit = git(work, 'rev-parse', 'HEAD');
    const mirrors = join(b.dir, 'mirrors');
    mkdirSync(join(mirrors, 'git.example.com', 'example'), { recursive: true });
    git(b.dir, 'clone', '-q', '--mirror', work, join(mirrors, 'git.example.com', 'example', 'project.git'));
    const r = await buildPackage({ ...req('gitmirror'), vars: { commit }, gitMirror: mirrors });
    expect(names(r)).toContain('git mirrors: git.example.com/example/project.git');
    expect(await fileOf(r, 'usr/share/gitmirror/README')).toBe(true);
    const sbom = (await apkText(r.apks[0]!.path, 'var/lib/db/sbom/gitmirror-1.0.0-r0.spdx.json'))!;
    const src = JSON.parse(sbom).packages.find(
      (p: { primaryPackagePurpose: string }) => p.primaryPackagePurpose === 'SOURCE',
    );
    expect(src).toMatchObject({
      name: 'git/project',
      versionInfo: 'v1.0.0',
      downloadLocation: `git+https://git.example.com/example/project@${commit}`,
    });
    const pyspdx = spdxValidator();
    if (pyspdx) validateSpdx(pyspdx, sbom, b.dir);
    // A wrong expected commit fails: the mirror is checked as the network would be.
    const bad = await buildPackage({
      ...req('gitmirror', { outDir: join(b.dir, 'packages-gitmirror-bad') }),
      vars: { commit: '1'.repeat(40) },
      gitMirror: mirrors,
    }).catch((e: unknown) => e as Error);
    expect((bad as Error).message).toContain('expected commit');
    expect(existsSync(join(b.dir, 'packages-gitmirror-bad', 'x86_64'))).toBe(false);
  });
});
