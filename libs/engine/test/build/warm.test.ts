// Warm rebuilds: the memoized environment resolution and the reuse of signed APKs made from
// identical packaging inputs; and that every changed input makes them anew.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  addToIndexFile,
  Keyring,
  loadSigningKey,
  packApk,
  packageInfo,
  verifyApk,
  writeKeyPair,
} from '@melange2/apk';
import { BuildkitClient } from '@melange2/buildkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type BuildResult, buildPackage, type BuildRequest } from '@melange2/engine';
import { resolveEnvironment } from '@melange2/engine/internal';
import { type Bootstrap, bootstrap } from './bootstrap.js';

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

/** A config with a main package and a subpackage, and its source directory beside it. */
function project(dir: string, description: string, data: string): string {
  mkdirSync(join(dir, 'warmpkg'), { recursive: true });
  writeFileSync(join(dir, 'warmpkg', 'data.txt'), data);
  const file = join(dir, 'warmpkg.yaml');
  writeFileSync(
    file,
    [
      'package:',
      '  name: warmpkg',
      '  version: 1.0.0',
      '  epoch: 0',
      `  description: ${description}`,
      'environment:',
      '  contents:',
      '    packages:',
      '      - busybox',
      'pipeline:',
      '  - runs: |',
      '      mkdir -p ${{targets.destdir}}/usr/share/warm',
      '      cp data.txt ${{targets.destdir}}/usr/share/warm/data.txt',
      'subpackages:',
      '  - name: warmpkg-doc',
      '    pipeline:',
      '      - runs: |',
      '          mkdir -p ${{targets.subpkgdir}}/usr/share/doc/warm',
      '          echo doc > ${{targets.subpkgdir}}/usr/share/doc/warm/README',
      '',
    ].join('\n'),
  );
  return file;
}

describe('warm rebuilds on the real daemon', () => {
  const cacheDir = () => join(b.dir, 'cache-warm');
  const build = (configFile: string, out: string, extra: Partial<BuildRequest> = {}) =>
    buildPackage({
      configFile,
      arch: 'x86_64',
      client,
      outDir: join(b.dir, out),
      signingKey: b.signingKey,
      repositoryAppend: [b.repo],
      cacheDir: cacheDir(),
      sourceDateEpoch: SDE,
      ...extra,
    });
  const bytes = (r: BuildResult) => r.apks.map((a) => readFileSync(a.path));
  let first: BuildResult;
  let file: string;

  it('an unchanged rebuild reuses the signed APKs, byte-identical, and indexes them', async () => {
    file = project(join(b.dir, 'proj'), 'the first description', 'one\n');
    first = await build(file, 'out-1');
    expect(first.packagesReused).toBe(false);
    const again = await build(file, 'out-2');
    expect(again.packagesReused).toBe(true);
    expect(again.apks.map((a) => a.path)).toEqual([
      join(b.dir, 'out-2', 'x86_64', 'warmpkg-1.0.0-r0.apk'),
      join(b.dir, 'out-2', 'x86_64', 'warmpkg-doc-1.0.0-r0.apk'),
    ]);
    expect(bytes(again)).toEqual(bytes(first));
    // What the result says of each APK is what packaging said.
    expect(again.apks.map(({ path: _, ...rest }) => rest)).toEqual(
      first.apks.map(({ path: _, ...rest }) => rest),
    );
    const keyring = Keyring.load([b.publicKeyPath]);
    for (const a of again.apks) await verifyApk(a.path, { keyring });
    expect(again.index).toBe(join(b.dir, 'out-2', 'x86_64', 'APKINDEX.tar.gz'));
  });

  it('a changed description, source file, SOURCE_DATE_EPOCH or signing key packages anew', async () => {
    const described = await build(project(join(b.dir, 'proj-desc'), 'another description', 'one\n'), 'out-d');
    expect(described.packagesReused).toBe(false);
    expect(described.apks[0]!.info.description).toBe('another description');

    const sourced = await build(project(join(b.dir, 'proj-src'), 'the first description', 'two\n'), 'out-s');
    expect(sourced.packagesReused).toBe(false);
    expect(sourced.apks[0]!.info.datahash).not.toBe(first.apks[0]!.info.datahash);
    // The subpackage's tree is the same, yet SCA reads its relatives: it is packaged again too.
    expect(sourced.apks[1]!.info.datahash).toBe(first.apks[1]!.info.datahash);

    const later = await build(file, 'out-e', { sourceDateEpoch: SDE + 1 });
    expect(later.packagesReused).toBe(false);
    expect(later.apks[0]!.info.builddate).toBe(SDE + 1);

    const { privatePath, publicPath } = await writeKeyPair(join(b.dir, 'other-key'), 'other', { bits: 2048 });
    const signed = await build(file, 'out-k', {
      signingKey: loadSigningKey(privatePath),
      keyringAppend: [b.publicKeyPath],
    });
    expect(signed.packagesReused).toBe(false);
    const r = await verifyApk(signed.apks[0]!.path, { keyring: Keyring.load([publicPath]) });
    expect(r.signedBy).toBe('other.rsa.pub');

    // Each of them is kept under its own key: the same inputs again reuse it.
    expect((await build(file, 'out-e2', { sourceDateEpoch: SDE + 1 })).packagesReused).toBe(true);
  });

  it('an entry of the store that is damaged is packaged again', async () => {
    const store = join(cacheDir(), 'packaged');
    for (const e of (await import('node:fs')).readdirSync(store))
      if (/^[0-9a-f]{64}$/.test(e)) writeFileSync(join(store, e, 'packaged.json'), '{"key": 1}');
    const r = await build(file, 'out-damaged');
    expect(r.packagesReused).toBe(false);
    expect(bytes(r)).toEqual(bytes(first));
  });
});

describe('environment resolution memo', () => {
  const world = ['busybox'];
  const resolveIn = (
    repo: string,
    extra: { keyring?: string[]; awaiting?: string[]; packages?: string[] } = {},
  ) =>
    resolveEnvironment({
      arch: 'x86_64',
      packages: extra.packages ?? world,
      repositories: [repo],
      keyring: extra.keyring ?? [],
      signingKey: b.signingKey,
      cacheDir: join(b.dir, 'cache-memo'),
      ...(extra.awaiting ? { awaiting: extra.awaiting } : {}),
    });

  it('gives the same resolution for the same inputs, and resolves again when any changes', async () => {
    const repo = join(b.dir, 'memo-repo');
    cpSync(b.repo, repo, { recursive: true });
    const first = await resolveIn(repo);
    expect(await resolveIn(repo)).toBe(first);

    // Another world, another trusted key: resolved again.
    const other = await resolveIn(repo, { packages: ['busybox', 'cmd:sh'] });
    expect(other).not.toBe(first);
    expect(other.database.find((f) => f.path === 'etc/apk/world')!.data.toString()).toContain('cmd:sh');
    const { publicPath } = await writeKeyPair(join(b.dir, 'memo-key'), 'memo', { bits: 2048 });
    expect(await resolveIn(repo, { keyring: [publicPath] })).not.toBe(first);

    // A memoized resolution still refuses a name the run has yet to build.
    await expect(resolveIn(repo, { awaiting: ['busybox'] })).rejects.toMatchObject({
      code: 'ENVIRONMENT_AWAITING',
    });

    const tree = join(b.dir, 'memo-tree');
    mkdirSync(join(tree, 'usr', 'share'), { recursive: true });
    writeFileSync(join(tree, 'usr', 'share', 'newer'), 'newer\n');
    const publish = async (name: string, version: string) => {
      const apk = join(repo, 'x86_64', `${name}-${version}.apk`);
      await packApk({
        dir: tree,
        info: packageInfo({ name, version, arch: 'x86_64', description: 'newer' }),
        signingKey: b.signingKey,
        sourceDateEpoch: 0,
        output: apk,
      });
      await addToIndexFile(join(repo, 'x86_64', 'APKINDEX.tar.gz'), [apk], { signingKey: b.signingKey });
    };
    // The index changed, but not what the world resolves to: the same environment.
    await publish('unrelated', '1-r0');
    expect(await resolveIn(repo)).toBe(first);

    // A newer busybox published into the repository: the resolution changes.
    await publish('busybox', '9.9.9-r0');
    const newer = await resolveIn(repo);
    expect(newer).not.toBe(first);
    expect(newer.packages.map((p) => p.entry.version)).toEqual(['9.9.9-r0']);
    expect(await resolveIn(repo)).toBe(newer);

    // Its extracted tree removed from the package cache: resolved (and extracted) again.
    rmSync(newer.packages[0]!.tree, { recursive: true, force: true });
    const refetched = await resolveIn(repo);
    expect(refetched).not.toBe(newer);
    expect(readFileSync(join(refetched.packages[0]!.tree, 'usr', 'share', 'newer'), 'utf8')).toBe('newer\n');
  });
});
