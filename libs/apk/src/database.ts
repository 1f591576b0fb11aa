import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { formatIndexRecord } from './index-text.js';
import { writeFileAtomic } from './fsutil.js';
import type { Keyring } from './keys.js';
import { formatRepositoryLine, type RepositorySpec } from './repository.js';
import { encodeEntry, EOF_BLOCKS } from './tar.js';
import type { InstalledFile } from './extract.js';
import type { CachedPackage } from './package-cache.js';

const q1 = (hex: string) => `Q1${Buffer.from(hex, 'hex').toString('base64')}`;

/** One installed-DB record: the index header, r/q/s, then F/M/R/a/Z per directory. */
function installedRecord(p: CachedPackage): string {
  let s = formatIndexRecord(p.entry).slice(0, -1);
  const m = p.manifest;
  if (m.replaces.length) s += `r:${m.replaces.join(' ')}\n`;
  if (m.replacesPriority) s += `q:${m.replacesPriority}\n`;
  if (p.tag) s += `s:${p.tag}\n`;
  const dirs = new Map<string, { dir?: InstalledFile; files: InstalledFile[] }>();
  const dirOf = (path: string) => {
    let d = dirs.get(path);
    if (!d) {
      d = { files: [] };
      dirs.set(path, d);
    }
    return d;
  };
  for (const f of m.files) {
    if (f.type === 'directory') dirOf(f.path).dir = f;
    else dirOf(f.path.includes('/') ? f.path.slice(0, f.path.lastIndexOf('/')) : '').files.push(f);
  }
  for (const [path, d] of dirs) {
    s += `F:${path}\n`;
    if (d.dir && (d.dir.uid !== 0 || d.dir.gid !== 0 || d.dir.mode !== 0o755)) {
      s += `M:${d.dir.uid}:${d.dir.gid}:${d.dir.mode.toString(8)}\n`;
    }
    for (const f of d.files) {
      s += `R:${f.path.slice(f.path.lastIndexOf('/') + 1)}\n`;
      const mode = f.type === 'symlink' ? 0o777 : f.mode;
      if (f.uid !== 0 || f.gid !== 0 || mode !== 0o644) s += `a:${f.uid}:${f.gid}:${mode.toString(8)}\n`;
      if (f.sha1) s += `Z:${q1(f.sha1)}\n`;
    }
  }
  return `${s}\n`;
}

interface DatabaseOptions {
  world: readonly string[];
  repositories: readonly RepositorySpec[];
  arch: string;
  keyring?: Keyring;
}

/**
 * Writes `etc/apk/{world,repositories,arch,keys/}` and `<db>/{installed,lock,scripts.tar,triggers}`
 * under `dir`. `<db>` is `lib/apk/db`, or `usr/lib/apk/db` when a package makes `lib` a symlink.
 */
export async function writeDatabase(
  dir: string,
  pkgs: readonly CachedPackage[],
  opts: DatabaseOptions,
): Promise<string> {
  const libIsLink = pkgs.some((p) => p.manifest.files.some((f) => f.path === 'lib' && f.type === 'symlink'));
  const db = libIsLink ? 'usr/lib/apk/db' : 'lib/apk/db';
  await mkdir(join(dir, db), { recursive: true });
  await mkdir(join(dir, 'etc/apk/keys'), { recursive: true });
  writeFileAtomic(join(dir, db, 'installed'), pkgs.map(installedRecord).join(''));
  writeFileAtomic(join(dir, db, 'lock'), '', 0o600);
  const scripts: Buffer[] = [];
  const triggers: string[] = [];
  for (const p of pkgs) {
    const m = p.manifest;
    for (const [type, body] of Object.entries(m.scripts)) {
      scripts.push(
        encodeEntry(
          {
            name: `${m.name}-${m.version}.${m.checksum}.${type}`,
            type: 'file',
            mode: 0o755,
            mtime: m.builddate ?? 0,
          },
          Buffer.from(body),
        ),
      );
    }
    if (m.triggers.length && m.scripts.trigger !== undefined)
      triggers.push(`${m.checksum} ${m.triggers.join(' ')}\n`);
  }
  writeFileAtomic(join(dir, db, 'scripts.tar'), Buffer.concat([...scripts, EOF_BLOCKS]));
  writeFileAtomic(join(dir, db, 'triggers'), triggers.join(''));
  writeFileAtomic(
    join(dir, 'etc/apk/world'),
    [...opts.world]
      .sort()
      .map((w) => `${w}\n`)
      .join(''),
  );
  writeFileAtomic(
    join(dir, 'etc/apk/repositories'),
    opts.repositories.map((r) => `${formatRepositoryLine(r)}\n`).join(''),
  );
  writeFileAtomic(join(dir, 'etc/apk/arch'), `${opts.arch}\n`);
  for (const [name, k] of opts.keyring?.keys ?? [])
    writeFileAtomic(join(dir, 'etc/apk/keys', name), k.pem, 0o644);
  return db;
}
