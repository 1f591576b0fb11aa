/**
 * Regressions from building real packages (the real-packages issue): the build user's cache,
 * split/dev's static libraries, `so:` depends through symlink chains, tests under dash.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildkitClient } from '@melange2/buildkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BuildError, buildPackage, type CommonRequest, testPackage } from '@melange2/engine';
import { type Bootstrap, bootstrap, packBusyboxNames, packDash, packStandIn } from './bootstrap.js';
import { EM_X86_64, tinyElf } from './elf-fixture.js';
import {
  apkEntries,
  apkText,
  config,
  controlText,
  countingClient,
  installInto,
  spdxValidator,
  validateSpdx,
} from './helpers.js';

const SDE = 1700000000;
let b: Bootstrap;
let client: BuildkitClient;

beforeAll(async () => {
  b = await bootstrap();
  client = await BuildkitClient.connect(inject('daemons').buildkit.x86_64);
});

afterAll(async () => {
  client?.close();
  if (b) await rm(b.dir, { recursive: true, force: true });
});

const out = () => join(b.dir, 'packages');

function req(name: string, extra: Partial<CommonRequest> = {}): CommonRequest {
  return {
    configFile: config(name),
    arch: 'x86_64',
    client,
    outDir: out(),
    signingKey: b.signingKey,
    repositoryAppend: [b.repo],
    cacheDir: b.cacheDir,
    sourceDateEpoch: SDE,
    ...extra,
  };
}

/** The package's files, but its SBOM (every package has one; its own test looks at it). */
const files = async (apk: string) =>
  (await apkEntries(apk))
    .filter((e) => e.type !== 'directory' && !e.name.startsWith('var/lib/db/sbom/'))
    .map((e) => e.name);

describe('what real packages exposed (x86_64, real daemon)', () => {
  it('the build user writes GOMODCACHE, PIP_CACHE_DIR, UV_CACHE_DIR, COMPOSER_CACHE_DIR, npm_config_cache', async () => {
    const r = await buildPackage(req('cachewrite'));
    const root = join(b.dir, 'root-cachewrite');
    await installInto(root, ['cachewrite'], 'x86_64', [out(), b.repo], b.publicKeyPath, b.cacheDir);
    const dir = join(root, 'usr/share/cachewrite');
    expect(readFileSync(join(dir, 'uid'), 'utf8').trim()).toBe('1000');
    expect(readFileSync(join(dir, 'written'), 'utf8').trim().split('\n')).toEqual([
      '/var/cache/melange/gomodcache',
      '/var/cache/melange/pip',
      '/var/cache/melange/uv',
      '/var/cache/melange/composer',
      '/var/cache/melange/npm',
    ]);
    expect(r.apks.map((a) => a.name)).toEqual(['cachewrite']);
  });

  it('split/dev takes *.a, *.[cho], *.prl, include dirs, share/gettext and .so links (not a linker script, as melange); -dev depends on so: through the link chain', async () => {
    const src = join(b.dir, 'src-lz4');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'liblz4.so.1.9.4'), tinyElf({ machine: EM_X86_64, soname: 'liblz4.so.1' }));
    const r = await buildPackage({ ...req('lz4'), sourceDir: src });
    const [lib, dev] = r.apks;
    // A linker script under a .so name is a regular file: melange's split/dev moves only .so
    // symlinks (`[ -L ]`, pkg/build/pipelines/split/dev.yaml), so it stays in the main package.
    expect((await files(lib!.path)).sort()).toEqual([
      'usr/lib/liblz4.so.1',
      'usr/lib/liblz4.so.1.9.4',
      'usr/lib/liblz4script.so',
    ]);
    expect((await files(dev!.path)).sort()).toEqual([
      'usr/include/lz4.h',
      'usr/lib/crt-lz4.o',
      'usr/lib/liblz4.a',
      'usr/lib/liblz4.prl',
      'usr/lib/liblz4.so',
      'usr/lib/lz4/include/priv.h',
      'usr/lib/pkgconfig/liblz4.pc',
      'usr/share/gettext/its/lz4.its',
    ]);
    expect(lib!.info.provides).toContain('so:liblz4.so.1=1');
    // liblz4.so -> liblz4.so.1 -> liblz4.so.1.9.4: the SONAME at the end of the chain.
    expect(dev!.info.depends).toEqual(['so:liblz4.so.1']);
    expect(dev!.info.provides).toEqual(['pc:liblz4=1.9.4-r0']);
    // Installed alone, the -dev package brings the library its .so link points to.
    const root = join(b.dir, 'root-lz4-dev');
    const installed = await installInto(root, ['lz4-dev'], 'x86_64', [out()], b.publicKeyPath, b.cacheDir);
    expect(installed.map((e) => e.name).sort()).toEqual(['lz4', 'lz4-dev']);
  });

  it('test: runs under a /bin/sh without pipefail (dash), with --test-package-append', async () => {
    const repo = join(b.dir, 'dash-repo');
    await packDash(repo, b.signingKey);
    await buildPackage(req('dashtest'));
    const r = await testPackage({
      ...req('dashtest'),
      repositoryAppend: [b.repo, repo],
      testPackageAppend: ['dash-sh'],
    });
    expect([...r.tests[0]!.environment].sort()).toEqual(['dash-sh-0.5.12-r0', 'dashtest-1.0.0-r0']);
    expect(r.tests[0]!.summary.errored).toBe(0);
  });

  it('a real package wins over an unversioned provide already in the environment, and its files win', async () => {
    const repo = join(b.dir, 'standin-repo');
    await packStandIn(repo, b.signingKey);
    const r = await buildPackage(req('standin', { repositoryAppend: [b.repo, repo] }));
    // The stand-in goes first so the real package's layer, merged later, wins where both ship a file.
    expect(r.environment.filter((p) => !p.startsWith('busybox-'))).toEqual([
      'standin-1-r0',
      'realthing-2-r0',
    ]);
    expect(await apkText(r.apks[0]!.path, 'usr/share/standin-user/which')).toBe('real\n');
    expect(await apkText(r.apks[0]!.path, 'usr/share/standin-user/only-standin')).toBe('kept\n');
  });

  it("test: an empty py3-x origin's test gets the py3.X-x providing py3-x with the highest provider-priority; python/import passes", async () => {
    const repo = join(b.dir, 'wolfi-base-repo');
    await packBusyboxNames(repo, b.signingKey, ['wolfi-base']);
    const r0 = await buildPackage(req('pyvirtual'));
    // As melange writes them: the provide as the config has it (no version added), the priority.
    const own = (ps: readonly string[]) => ps.filter((p) => !p.startsWith('cmd:'));
    expect(r0.apks.map((a) => [a.name, own(a.info.provides), a.info.providerPriority])).toEqual([
      ['py3-fake', [], 0],
      ['py3.11-fake', ['py3-fake'], 311],
      ['py3.12-fake', ['py3-fake'], 312],
    ]);
    const r = await testPackage({ ...req('pyvirtual'), repositoryAppend: [b.repo, repo] });
    const env = (i: number) => r.tests[i]!.environment.filter((p) => /fake/.test(p)).sort();
    expect(r.tests.map((t) => t.package)).toEqual(['py3-fake', 'py3.11-fake', 'py3.12-fake']);
    // As melange asks for the bare name and apko ranks by provider-priority: not the empty origin.
    expect(env(0)).toEqual(['py3.12-fake-1.0.0-r2']);
    expect(env(1)).toEqual(['py3.11-fake-1.0.0-r2']);
    // python/import with `imports:` ending in a newline (main) and with `import:` + `from:` passes.
    expect(r.tests.map((t) => t.summary.errored)).toEqual([0, 0, 0]);
  });

  it('patch: a series whose last line is a comment applies every patch and passes', async () => {
    const repo = join(b.dir, 'patch-repo');
    await packBusyboxNames(repo, b.signingKey, ['patch']);
    const r = await buildPackage(req('patchseries', { repositoryAppend: [b.repo, repo] }));
    expect(await apkText(r.apks[0]!.path, 'usr/share/patchseries/greeting')).toBe('two\n');
  });

  it('a build never resolves a package (or a name it provides) the same run has yet to produce', async () => {
    const c = countingClient(client);
    for (const name of ['busybox', 'cmd:sh']) {
      const e = (await buildPackage({
        ...req('cachewrite', { outDir: join(b.dir, 'packages-awaiting') }),
        client: c.client,
        awaiting: [name, 'something-else'],
      }).catch((x: unknown) => x)) as BuildError;
      expect(e).toBeInstanceOf(BuildError);
      expect(e.stage).toBe('environment');
      expect(e.cause).toMatchObject({ code: 'ENVIRONMENT_AWAITING', pkg: name });
      expect(e.message).toContain(`would install busybox-1.35.0-r0 for ${name}`);
    }
    expect(c.calls()).toBe(0);
    // Names the environment does not need do not hold the build.
    const r = await buildPackage({ ...req('cachewrite'), awaiting: ['m4', 'flex'] });
    expect(r.environment).toEqual(['busybox-1.35.0-r0']);
  });

  it("every package carries melange's SPDX 2.3 SBOM and the config as built (.melange.yaml)", async (t) => {
    const r = await buildPackage({ ...req('lz4'), sourceDir: join(b.dir, 'src-lz4') });
    const pyspdx = spdxValidator();
    for (const apk of r.apks) {
      const path = `var/lib/db/sbom/${apk.name}-1.9.4-r0.spdx.json`;
      const text = await apkText(apk.path, path);
      expect(text, `${apk.name} has ${path}`).toBeDefined();
      const doc = JSON.parse(text!);
      expect(doc).toMatchObject({
        spdxVersion: 'SPDX-2.3',
        dataLicense: 'CC0-1.0',
        name: `apk-${apk.name}-1.9.4-r0`,
      });
      expect(doc.creationInfo.created).toBe(new Date(SDE * 1000).toISOString().replace('.000Z', 'Z'));
      const self = doc.packages.find((p: { SPDXID: string }) => p.SPDXID === doc.documentDescribes[0]);
      expect(self).toMatchObject({
        name: apk.name,
        versionInfo: '1.9.4-r0',
        licenseDeclared: 'BSD-2-Clause',
      });
      expect(self.externalRefs[0].referenceLocator).toBe(
        `pkg:apk/unknown/${apk.name}@1.9.4-r0?arch=x86_64&distro=unknown`,
      );
      expect(doc.relationships).toContainEqual(
        expect.objectContaining({ spdxElementId: self.SPDXID, relationshipType: 'DESCRIBED_BY' }),
      );
      if (pyspdx) validateSpdx(pyspdx, text!, b.dir);
      const yaml = await controlText(apk.path, '.melange.yaml');
      expect(yaml).toContain('name: lz4');
      expect(yaml).toContain('uses: split/dev');
    }
    if (!pyspdx)
      t.skip('pyspdxtools not installed (scripts/setup installs it): SBOMs checked, not validated');
  });
});
