import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  addToIndexFile,
  loadSigningKey,
  packApk,
  packageInfo,
  type SigningKey,
  writeKeyPair,
} from '@melange2/apk';

export const ROOT = join(import.meta.dirname, '..', '..', '..');
export const OS_REPO = join(ROOT, 'testdata', 'os');
const BUSYBOX = { x86_64: '/bin/busybox', aarch64: join(ROOT, '.tools', 'arm64', 'busybox') } as const;
export type TestArch = keyof typeof BUSYBOX;

export interface OsBootstrap {
  readonly dir: string;
  readonly keyPath: string;
  readonly key: SigningKey;
  /** busybox and the 0.9.0 cycle-a/cycle-b that the bootstrap cycle policy builds against. */
  readonly repo: string;
  readonly cacheDir: string;
}

/** What testdata/os/bootstrap.sh makes with the CLI, made here with libs/apk (faster). */
export async function osBootstrap(arches: readonly TestArch[]): Promise<OsBootstrap> {
  const dir = mkdtempSync(join(tmpdir(), 'm2-os-'));
  const { privatePath } = await writeKeyPair(dir, 'melange', { bits: 2048 });
  const key = loadSigningKey(privatePath);
  const repo = join(dir, 'bootstrap');
  const applets = execFileSync('/bin/busybox', ['--list-full'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l !== '' && !l.includes('['));
  for (const arch of arches) {
    if (!existsSync(BUSYBOX[arch])) throw new Error(`${BUSYBOX[arch]} is missing: run scripts/setup`);
    const tree = join(dir, `tree-${arch}`);
    mkdirSync(join(tree, 'bin'), { recursive: true });
    copyFileSync(BUSYBOX[arch], join(tree, 'bin', 'busybox'));
    for (const rel of applets) {
      mkdirSync(join(tree, dirname(rel)), { recursive: true });
      if (!existsSync(join(tree, rel))) symlinkSync('/bin/busybox', join(tree, rel));
    }
    const apks = [join(repo, arch, 'busybox-1.35.0-r0.apk')];
    await packApk({
      dir: tree,
      info: packageInfo({
        name: 'busybox',
        version: '1.35.0-r0',
        arch,
        description: 'static busybox (bootstrap)',
        provides: [...new Set(applets.map((r) => r.slice(r.lastIndexOf('/') + 1)))].map(
          (n) => `cmd:${n}=1.35.0-r0`,
        ),
      }),
      signingKey: key,
      sourceDateEpoch: 0,
      output: apks[0]!,
    });
    for (const name of ['cycle-a', 'cycle-b']) {
      const out = join(repo, arch, `${name}-0.9.0-r0.apk`);
      await packApk({
        info: packageInfo({
          name,
          version: '0.9.0-r0',
          arch,
          description: `${name} published before (bootstrap)`,
        }),
        signingKey: key,
        sourceDateEpoch: 0,
        output: out,
      });
      apks.push(out);
    }
    await addToIndexFile(join(repo, arch, 'APKINDEX.tar.gz'), apks, { signingKey: key });
  }
  return { dir, keyPath: privatePath, key, repo, cacheDir: join(dir, 'apk-cache') };
}

import { readFileSync } from 'node:fs';
import { Keyring, publicPemOf, readApkData, readApkHead, readIndexArchive } from '@melange2/apk';

/** The index of an arch, verified against the repository key: the names it lists. */
export function indexNames(indexFile: string | Buffer, key: SigningKey): string[] {
  const buf = typeof indexFile === 'string' ? readFileSync(indexFile) : indexFile;
  const keyring = new Keyring().add(key.publicName, publicPemOf(key));
  const { index } = readIndexArchive(buf, 'APKINDEX.tar.gz', { keyring });
  return index.entries.map((e) => e.name).sort();
}

/** One file's text from an .apk. */
export async function apkFile(apk: string, path: string): Promise<string | undefined> {
  let text: string | undefined;
  await readApkData(await readApkHead(apk), async (e, content) => {
    const chunks: Buffer[] = [];
    for await (const c of content) chunks.push(c);
    if (e.name === path) text = Buffer.concat(chunks).toString('utf8');
  });
  return text;
}

/** What testdata/os builds per arch (broken fails, needs-broken is skipped, bad-config is left out). */
export const OS_BUILT = [
  'base-files',
  'chain-a',
  'chain-b',
  'chain-c',
  'cycle-a',
  'cycle-b',
  'fancy-sh',
  'greeter',
  'libgreet',
  'libgreet-dev',
  'motd',
];
