import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Keyring,
  packageInfo,
  packApk,
  publishPackages,
  readIndexFile,
  type SigningKey,
  signingKeyFromPem,
} from '@melange2/apk';
import { buildEnvironment } from '@melange2/apk/internal';
import { testKey, tmp, tree } from './helpers.js';

let key: SigningKey;
let keyring: Keyring;
beforeAll(async () => {
  const kp = await testKey();
  key = signingKeyFromPem(kp.privatePem, 'test.rsa.pub');
  keyring = new Keyring().add('test.rsa.pub', kp.publicPem);
});

async function build(
  name: string,
  extra: Parameters<typeof packageInfo>[0] extends infer T ? Partial<T> : never = {},
) {
  const out = join(tmp(), `${name}.apk`);
  await packApk({
    dir: tree(tmp(), { [`usr/share/${name}/data`]: name }),
    info: packageInfo({ name, version: '1.0-r0', arch: 'noarch', ...extra }),
    signingKey: key,
    output: out,
  });
  return out;
}

describe('publishPackages + buildEnvironment', () => {
  it('publishes concurrently without losing entries, then assembles an environment as layers', async () => {
    const repo = tmp('pub-');
    const a = await build('a', { depends: ['b'] });
    const b = await build('b');
    const c = await build('c');
    await Promise.all([
      publishPackages({ repoDir: repo, arch: 'x86_64', apks: [a], signingKey: key, keyring }),
      publishPackages({ repoDir: repo, arch: 'x86_64', apks: [b], signingKey: key, keyring }),
      publishPackages({ repoDir: repo, arch: 'x86_64', apks: [c], signingKey: key, keyring }),
    ]);
    const idx = readIndexFile(join(repo, 'x86_64', 'APKINDEX.tar.gz'), { keyring });
    expect(idx.index.entries.map((e) => `${e.name}/${e.arch}`)).toEqual(['a/x86_64', 'b/x86_64', 'c/x86_64']);
    expect(existsSync(join(repo, 'x86_64', 'a-1.0-r0.apk'))).toBe(true);

    const dbDir = tmp('db-');
    const env = await buildEnvironment({
      repositories: [repo],
      keyring,
      arch: 'x86_64',
      world: ['a'],
      cacheDir: tmp('cache-'),
      dbDir,
    });
    expect(env.packages.map((p) => p.entry.name)).toEqual(['b', 'a']);
    expect(readFileSync(join(env.packages[1]!.tree, 'usr/share/a/data'), 'utf8')).toBe('a');
    expect(existsSync(join(env.packages[1]!.tree, 'usr/share/b'))).toBe(false);
    expect(readFileSync(join(dbDir, 'lib/apk/db/installed'), 'utf8')).toMatch(/P:b\n[\s\S]*P:a\n/);
    expect(readFileSync(join(dbDir, 'etc/apk/world'), 'utf8')).toBe('a\n');
  });
});
