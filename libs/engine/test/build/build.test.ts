import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Keyring, readIndexFile, verifyApk } from '@melange2/apk';
import { BuildkitClient } from '@melange2/buildkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  BuildError,
  type BuildEvent,
  type BuildResult,
  buildPackage,
  type CommonRequest,
  LayerServer,
  testPackage,
} from '@melange2/engine';
import { groupSteps } from '@melange2/engine/internal';
import { type Bootstrap, bootstrap, packUsrmerge } from './bootstrap.js';
import { apkEntries, config, countingClient, installInto, libmarkerSource } from './helpers.js';

const SDE = 1700000000;
let b: Bootstrap;
const clients: Partial<Record<'x86_64' | 'aarch64', BuildkitClient>> = {};

beforeAll(async () => {
  const d = inject('daemons');
  b = await bootstrap();
  clients.x86_64 = await BuildkitClient.connect(d.buildkit.x86_64);
  clients.aarch64 = await BuildkitClient.connect(d.buildkit.aarch64);
});

afterAll(async () => {
  clients.x86_64?.close();
  clients.aarch64?.close();
  if (b) await rm(b.dir, { recursive: true, force: true });
});

function req(
  name: string,
  arch: 'x86_64' | 'aarch64',
  out: string,
  extra: Partial<CommonRequest> = {},
): CommonRequest {
  return {
    configFile: config(name),
    arch,
    client: clients[arch]!,
    outDir: out,
    signingKey: b.signingKey,
    repositoryAppend: [b.repo],
    cacheDir: b.cacheDir,
    sourceDateEpoch: SDE,
    ...extra,
  };
}

const read = (root: string, p: string) => readFileSync(join(root, p), 'utf8').trim();
/** Exec vertices of a solve (a step of the config, or a group of its steps), by their outcome. */
const steps = (r: BuildResult) =>
  r.solve.vertices
    .filter((v) => / \(\d+ steps\)$/.test(v.name) || r.plan.steps.some((s) => s.name === v.name))
    .map((v) => v.outcome);
/** The step markers a build's log carried. */
const markersOf = (into: string[]) => (e: BuildEvent) => {
  if (e.type === 'solve' && e.event.type === 'vertex.log' && e.event.line.startsWith('[melange2] step '))
    into.push(e.event.line.trim());
};

describe('x86_64 builds on the real daemon', () => {
  let first: BuildResult;
  const firstMarkers: string[] = [];
  const out = () => join(b.dir, 'packages');

  it('builds subpackages, range subpackages, vars, working-directory, built-in and repository pipelines', async () => {
    first = await buildPackage({ ...req('hello', 'x86_64', out()), onEvent: markersOf(firstMarkers) });
    expect(first.apks.map((a) => a.name)).toEqual(['hello', 'hello-doc', 'hello-mint', 'hello-vanilla']);
    expect(first.apks.map((a) => a.path)).toContain(join(out(), 'x86_64', 'hello-1.2.3-r0.apk'));
    expect(first.environment).toEqual(['busybox-1.35.0-r0']);

    // Every APK verifies against the signing key, and the signed index lists them all.
    const keyring = Keyring.load([b.publicKeyPath]);
    for (const a of first.apks)
      expect((await verifyApk(a.path, { keyring })).signedBy).toBe('melange.rsa.pub');
    const index = readIndexFile(join(out(), 'x86_64', 'APKINDEX.tar.gz'), { keyring });
    expect(index.index.entries.map((e) => e.name).sort()).toEqual([
      'hello',
      'hello-doc',
      'hello-mint',
      'hello-vanilla',
    ]);

    const hello = first.apks[0]!;
    expect(hello.info.origin).toBe('hello');
    expect(hello.info.license).toBe('Apache-2.0');
    expect(hello.info.depends).toEqual(['busybox']);
    expect(hello.info.provides).toEqual(['cmd:hello=1.2.3-r0']);
    expect(hello.info.builddate).toBe(SDE);
    expect(first.apks[2]!.info.description).toBe('the green flavour');

    // Files are root-owned with SOURCE_DATE_EPOCH mtimes, although the build user (1000) wrote them.
    const entries = await apkEntries(hello.path);
    expect(entries.length).toBeGreaterThan(3);
    for (const e of entries) expect([e.uid, e.gid, e.mtime]).toEqual([0, 0, SDE]);

    // Install into a temp root with libs/apk and look at what the steps recorded.
    const root = join(b.dir, 'root-hello');
    await installInto(
      root,
      ['hello', 'hello-doc', 'hello-mint'],
      'x86_64',
      [out(), b.repo],
      b.publicKeyPath,
      b.cacheDir,
    );
    expect(read(root, 'usr/share/hello/arch')).toBe('x86_64');
    expect(read(root, 'usr/share/hello/uid')).toBe('1000');
    expect(read(root, 'usr/share/hello/greeting')).toBe('hello from melange2-orch 1.2');
    expect(read(root, 'usr/share/hello/workdir')).toBe('/home/build/sub/dir');
    expect(read(root, 'usr/share/marker/text')).toBe('marked by a repository pipeline');
    expect(read(root, 'usr/share/man/man1/hello.1')).toBe('.TH HELLO 1');
    expect(read(root, 'usr/share/hello-flavours/mint')).toBe('green');
    expect(existsSync(join(root, 'usr/share/hello/aarch64-only'))).toBe(false);
    // The man page went to hello-doc (split/manpages), not hello.
    expect((await apkEntries(hello.path)).some((e) => e.name.includes('man1'))).toBe(false);
  });

  it('an unchanged second build has every step cached and gives byte-identical APKs', async () => {
    const out2 = join(b.dir, 'packages-again');
    const second = await buildPackage(req('hello', 'x86_64', out2));
    expect(steps(second).length).toBe(steps(first).length);
    expect(steps(second).length).toBeGreaterThan(0);
    expect(new Set(steps(second))).toEqual(new Set(['cached']));
    for (const [i, a] of second.apks.entries())
      expect(readFileSync(a.path).equals(readFileSync(first.apks[i]!.path))).toBe(true);
    // The environment's layer is not sent again: only file metadata crosses.
    expect(second.bytesSent).toBeLessThan(100_000);
  });

  it('one exec per step, or per pipeline, gives the APKs of the default (one exec), which announces every step', async () => {
    for (const grouping of ['step', 'pipeline'] as const) {
      const r = await buildPackage({
        ...req('hello', 'x86_64', join(b.dir, `packages-${grouping}`)),
        stepGrouping: grouping,
      });
      expect(steps(r).length).toBe(groupSteps(first.plan.steps, grouping).length);
      expect(r.apks.map((a) => a.name)).toEqual(first.apks.map((a) => a.name));
      for (const [i, a] of r.apks.entries())
        expect(readFileSync(a.path).equals(readFileSync(first.apks[i]!.path))).toBe(true);
    }
    const n = first.plan.steps.length;
    expect(steps(first).length).toBe(groupSteps(first.plan.steps, 'build').length);
    expect(steps(first).length).toBeLessThan(groupSteps(first.plan.steps, 'pipeline').length);
    expect(firstMarkers).toEqual(
      first.plan.steps.map((s, i) => `[melange2] step ${i + 1}/${n}: ${s.name.split('\n')[0]}`),
    );
  });

  it('a failing step inside a group is named, with its exit code and the log tail', async () => {
    const e = await buildPackage(req('fails', 'x86_64', join(b.dir, 'packages-fails-grouped'))).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(BuildError);
    const err = e as BuildError;
    expect(err.details.step?.name).toBe('break on purpose');
    expect(err.details.step?.exitCode).toBe(7);
    expect(err.message).toContain('step "break on purpose" failed with exit code 7');
    expect(err.message).toContain('about to fail for the test');
    expect(err.message).toContain('[melange2] step 2/2 failed with exit code 7');
  });

  it('a failing step after a long log (3.2 MB of stdout) is still named, with its marker in the tail', async () => {
    const markers: string[] = [];
    const e = await buildPackage({
      ...req('loud-fails', 'x86_64', join(b.dir, 'packages-loud-fails')),
      onEvent: markersOf(markers),
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BuildError);
    const err = e as BuildError;
    expect(err.details.step?.name).toBe('break on purpose');
    expect(err.details.step?.exitCode).toBe(7);
    expect(err.message).toContain('[melange2] step 3/3 failed with exit code 7');
    expect(markers).toEqual([
      '[melange2] step 1/3: talk a lot',
      '[melange2] step 2/3: prepare',
      '[melange2] step 3/3: break on purpose',
      '[melange2] step 3/3 failed with exit code 7',
    ]);
  });

  it('environment served over HTTP: keyed by datahash, nothing fetched or synced once seen, same APKs', async () => {
    const server = await LayerServer.start();
    try {
      const viaHttp = join(b.dir, 'packages-http');
      const r1 = await buildPackage({ ...req('hello', 'x86_64', viaHttp), layerServer: server });
      const r2 = await buildPackage({
        ...req('hello', 'x86_64', join(b.dir, 'packages-http-2')),
        layerServer: server,
      });
      expect(new Set(steps(r2))).toEqual(new Set(['cached']));
      expect(r2.bytesSent).toBe(0);
      // The environment's content is the same whichever way it travels: so are the packages.
      for (const [i, a] of r1.apks.entries())
        expect(readFileSync(a.path).equals(readFileSync(first.apks[i]!.path))).toBe(true);
      // A package that must be written through a symlink falls back to a local directory.
      const repo = join(b.dir, 'usrmerge-repo-http');
      await packUsrmerge('x86_64', repo, b.signingKey);
      const u = await buildPackage({
        ...req('usrmerge', 'x86_64', join(b.dir, 'packages-http-u')),
        repositoryAppend: [repo],
        layerServer: server,
      });
      expect(u.environment).toEqual(['layout-1-r0', 'busybox-usrmerge-1.35.0-r0']);
    } finally {
      await server.close();
    }
  });

  it('concurrent builds into one output repository keep every index entry', async () => {
    const shared = join(b.dir, 'packages-concurrent');
    await Promise.all([
      buildPackage(req('hello', 'x86_64', shared)),
      buildPackage(req('badtest', 'x86_64', shared)),
    ]);
    const index = readIndexFile(join(shared, 'x86_64', 'APKINDEX.tar.gz'), {
      keyring: Keyring.load([b.publicKeyPath]),
    });
    expect(index.index.entries.map((e) => e.name).sort()).toEqual([
      'badtest',
      'hello',
      'hello-doc',
      'hello-mint',
      'hello-vanilla',
    ]);
  });

  it('SCA gives so: provides/depends, cmd: and pc: provides', async () => {
    const src = libmarkerSource(join(b.dir, 'src-libmarker-x86_64'), 'x86_64');
    const r = await buildPackage({ ...req('libmarker', 'x86_64', out()), sourceDir: src });
    const [lib, consumer] = r.apks;
    expect(lib!.info.version).toBe('1.2.3-r1');
    expect(lib!.info.provides).toEqual([
      'pc:marker=1.2.3-r1',
      'so-ver:libmarker.so.1=1.2.3-r1',
      'so:libmarker.so.1=1',
    ]);
    expect(lib!.info.depends).toEqual([]);
    expect(consumer!.info.provides).toEqual(['cmd:consumer=1.2.3-r1']);
    expect(consumer!.info.depends).toEqual(['so:libmarker.so.1']);
    // The consumer installs: its so: dependency resolves to libmarker.
    const root = join(b.dir, 'root-consumer');
    const installed = await installInto(
      root,
      ['marker-consumer'],
      'x86_64',
      [out(), b.repo],
      b.publicKeyPath,
      b.cacheDir,
    );
    expect(installed.map((e) => e.name).sort()).toEqual(['libmarker', 'marker-consumer']);
  });

  it("a dependent build's environment installs the fresh package from the output repository", async () => {
    const r = await buildPackage(req('reader', 'x86_64', out()));
    expect(r.environment).toContain('libmarker-1.2.3-r1');
    const root = join(b.dir, 'root-reader');
    await installInto(root, ['reader'], 'x86_64', [out(), b.repo], b.publicKeyPath, b.cacheDir);
    expect(read(root, 'usr/share/reader/seen')).toBe('marker-from-libmarker-1.2.3-r1');
  });

  it('a failing step names the step, its exit code and the log tail', async () => {
    const e = await buildPackage({
      ...req('fails', 'x86_64', join(b.dir, 'packages-fails')),
      stepGrouping: 'step',
    }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BuildError);
    const err = e as BuildError;
    expect(err.stage).toBe('solve');
    expect(err.details.step?.name).toBe('break on purpose');
    expect(err.details.step?.exitCode).toBe(7);
    expect(err.message).toContain('step "break on purpose" failed with exit code 7');
    expect(err.message).toContain('about to fail for the test');
    expect(existsSync(join(b.dir, 'packages-fails', 'x86_64'))).toBe(false);
  });

  it('aborting cancels the build on the daemon and leaves no package behind', async () => {
    const abort = new AbortController();
    const e = (await buildPackage({
      ...req('slow', 'x86_64', join(b.dir, 'packages-slow')),
      signal: abort.signal,
      onEvent: (ev) => {
        if (
          ev.type === 'solve' &&
          ev.event.type === 'vertex.started' &&
          ev.event.vertex.name === 'takes a while'
        )
          abort.abort();
      },
    }).catch((x: unknown) => x)) as BuildError;
    expect(e).toBeInstanceOf(BuildError);
    expect(e.message).toContain('cancelled');
    expect(existsSync(join(b.dir, 'packages-slow', 'x86_64'))).toBe(false);
  });

  it('a bad config fails with located errors before BuildKit is called', async () => {
    const c = countingClient(clients.x86_64!);
    const e = (await buildPackage({ ...req('bad', 'x86_64', out()), client: c.client }).catch(
      (x: unknown) => x,
    )) as BuildError;
    expect(e).toBeInstanceOf(BuildError);
    expect(e.stage).toBe('config');
    expect(e.code).toBe('BUILD_CONFIG');
    expect(e.message).toMatch(/bad\.yaml:\d+:\d+: .*unknown pipeline "no\/such-pipeline"/);
    expect(e.details.diagnostics?.length).toBeGreaterThanOrEqual(2);
    expect(c.calls()).toBe(0);
  });

  it('an unsatisfiable environment or an unreachable repository fails before BuildKit is called', async () => {
    const c = countingClient(clients.x86_64!);
    const unsat = (await buildPackage({ ...req('unsatisfiable', 'x86_64', out()), client: c.client }).catch(
      (x: unknown) => x,
    )) as BuildError;
    expect(unsat.stage).toBe('environment');
    expect(unsat.code).toBe('BUILD_ENVIRONMENT');
    expect(unsat.cause).toMatchObject({ code: 'ENVIRONMENT_UNSATISFIABLE', arch: 'x86_64' });
    expect(unsat.message).toContain('no-such-package-anywhere');
    const unreachable = (await buildPackage({
      ...req('hello', 'x86_64', out()),
      client: c.client,
      repositoryAppend: ['http://127.0.0.1:9/nothing', b.repo],
    }).catch((x: unknown) => x)) as BuildError;
    expect(unreachable.stage).toBe('environment');
    expect(unreachable.cause).toMatchObject({ code: 'ENVIRONMENT_REPOSITORY', arch: 'x86_64' });
    expect(unreachable.message).toContain('http://127.0.0.1:9/nothing');
    const { generateKeyPair, signingKeyFromPem } = await import('@melange2/apk');
    const badKey = (await buildPackage({
      ...req('hello', 'x86_64', join(b.dir, 'empty-out')),
      client: c.client,
      // Another key signs nothing here: the bootstrap index is untrusted.
      signingKey: signingKeyFromPem((await generateKeyPair(2048)).privatePem, 'other.rsa.pub'),
    }).catch((x: unknown) => x)) as BuildError;
    expect(badKey.stage).toBe('environment');
    expect(badKey.cause).toMatchObject({ code: 'ENVIRONMENT_SIGNATURE' });
    expect(badKey.message).toMatch(/UNTRUSTED|untrusted/);
    expect(c.calls()).toBe(0);
  });

  it('usrmerge: files under a directory an earlier package made a symlink land where it points', async () => {
    const repo = join(b.dir, 'usrmerge-repo');
    await packUsrmerge('x86_64', repo, b.signingKey);
    const r = await buildPackage({ ...req('usrmerge', 'x86_64', out()), repositoryAppend: [repo] });
    expect(r.environment).toEqual(['layout-1-r0', 'busybox-usrmerge-1.35.0-r0']);
    const root = join(b.dir, 'root-usrmerge');
    await installInto(root, ['usrmerge-check'], 'x86_64', [out()], b.publicKeyPath, b.cacheDir);
    expect(read(root, 'usr/share/usrmerge/bin-link')).toBe('usr/bin');
    expect(read(root, 'usr/share/usrmerge/in-usr-bin')).toBe('yes');
  });

  it('configs installing the same packages under another world and accounts share the environment merge', async () => {
    const repo = join(b.dir, 'usrmerge-repo-shared');
    await packUsrmerge('x86_64', repo, b.signingKey);
    // A user unique to this run makes each config's generated layer new to the daemon.
    const uid = 2000 + Math.floor(Math.random() * 50_000);
    const write = (name: string, world: readonly string[], user: string) => {
      const file = join(b.dir, `${name}.yaml`);
      writeFileSync(
        file,
        [
          'package:',
          `  name: ${name}`,
          '  version: 1.0.0',
          '  epoch: 0',
          'environment:',
          '  contents:',
          '    packages:',
          ...world.map((w) => `      - ${w}`),
          '  accounts:',
          '    users:',
          `      - username: ${user}`,
          `        uid: ${uid}`,
          'pipeline:',
          '  - runs: |',
          '      d=${{targets.destdir}}/usr/share/shared-env',
          '      mkdir -p $d',
          '      cp /etc/apk/world $d/world',
          `      grep '^${user}:' /etc/passwd > $d/user`,
          '      readlink /bin > $d/bin-link',
          '',
        ].join('\n'),
      );
      return file;
    };
    const build = (file: string, outDir: string) =>
      buildPackage({ ...req('usrmerge', 'x86_64', outDir), configFile: file, repositoryAppend: [repo] });
    const outA = join(b.dir, 'packages-shared-a');
    const outB = join(b.dir, 'packages-shared-b');
    await build(write('shared-env-a', ['busybox-usrmerge'], `ua${uid}`), outA);
    const second = await build(write('shared-env-b', ['layout', 'cmd:ls'], `ub${uid}`), outB);
    expect(second.environment).toEqual(['layout-1-r0', 'busybox-usrmerge-1.35.0-r0']);
    const merges = second.solve.vertices.filter((v) => v.name === 'environment (2 packages)');
    expect(merges.map((v) => v.outcome)).toEqual(['cached']);
    // Yet the second build sees its own world and accounts, and the layout's /bin link.
    const root = join(b.dir, 'root-shared-env');
    await installInto(root, ['shared-env-b'], 'x86_64', [outB], b.publicKeyPath, b.cacheDir);
    expect(read(root, 'usr/share/shared-env/world').split('\n')).toEqual(['cmd:ls', 'layout']);
    expect(read(root, 'usr/share/shared-env/user')).toMatch(new RegExp(`^ub${uid}:x:${uid}:`));
    expect(read(root, 'usr/share/shared-env/bin-link')).toBe('usr/bin');
  });

  it('a package whose content does not match its index fails the environment, before BuildKit', async () => {
    const tampered = join(b.dir, 'tampered');
    cpSync(b.repo, tampered, { recursive: true });
    const apk = join(tampered, 'x86_64', 'busybox-1.35.0-r0.apk');
    const bytes = readFileSync(apk);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100]! + 1) % 256;
    writeFileSync(apk, bytes);
    const c = countingClient(clients.x86_64!);
    const e = (await buildPackage({
      ...req('fails', 'x86_64', join(b.dir, 'out-tampered')),
      client: c.client,
      repositoryAppend: [tampered],
      cacheDir: join(b.dir, 'cache-tampered'),
    }).catch((x: unknown) => x)) as BuildError;
    expect(e).toBeInstanceOf(BuildError);
    expect(e.stage).toBe('environment');
    expect(e.cause).toMatchObject({ code: 'ENVIRONMENT_SIGNATURE' });
    expect(e.message).toMatch(/busybox.*(datahash|does not match)/);
    expect(c.calls()).toBe(0);
  });

  it('test: passes for a good package and fails with the test output for a bad one', async () => {
    const ok = await testPackage(req('hello', 'x86_64', out()));
    expect(ok.tests.map((t) => t.package)).toEqual(['hello']);
    expect(ok.tests[0]!.environment).toContain('hello-1.2.3-r0');
    await buildPackage(req('badtest', 'x86_64', out()));
    const e = (await testPackage(req('badtest', 'x86_64', out())).catch((x: unknown) => x)) as BuildError;
    expect(e).toBeInstanceOf(BuildError);
    expect(e.stage).toBe('solve');
    expect(e.message).toContain('looks for a file that is not there');
    expect(e.message).toContain('checking for /usr/share/badtest/missing');
  });
});

describe('aarch64 builds on the real (emulated) daemon', () => {
  it('records uname -m = aarch64 and runs the aarch64-only step', async () => {
    const out = join(b.dir, 'packages');
    const r = await buildPackage(req('hello', 'aarch64', out));
    expect(r.apks.map((a) => a.path)).toContain(join(out, 'aarch64', 'hello-1.2.3-r0.apk'));
    const root = join(b.dir, 'root-hello-arm');
    await installInto(root, ['hello'], 'aarch64', [out, b.repo], b.publicKeyPath, b.cacheDir);
    expect(read(root, 'usr/share/hello/arch')).toBe('aarch64');
    expect(read(root, 'usr/share/hello/aarch64-only')).toBe('arm');
    const index = readIndexFile(join(out, 'aarch64', 'APKINDEX.tar.gz'), {
      keyring: Keyring.load([b.publicKeyPath]),
    });
    expect(index.index.entries.every((e) => e.arch === 'aarch64')).toBe(true);
  });

  it('SCA on aarch64 ELF images', async () => {
    const out = join(b.dir, 'packages');
    const src = libmarkerSource(join(b.dir, 'src-libmarker-aarch64'), 'aarch64');
    const r = await buildPackage({ ...req('libmarker', 'aarch64', out), sourceDir: src });
    expect(r.apks[0]!.info.provides).toContain('so:libmarker.so.1=1');
    expect(r.apks[1]!.info.depends).toEqual(['so:libmarker.so.1']);
  });
});
