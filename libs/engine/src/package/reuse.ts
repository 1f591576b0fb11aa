/**
 * Reuse of signed APKs already made from the very same inputs (a warm rebuild of an unchanged
 * package then neither runs SCA, compresses nor signs again).
 *
 * The key is a digest of everything packaging reads: the exported `melange-out/` tree (every
 * package's directory: paths, types, permission bits, contents, symlink targets, hard links;
 * SCA of one package looks at the others), the config as built (`.melange.yaml`, which holds the
 * metadata, dependencies, options and scriptlets), the plan's arch, version, package list and
 * SOURCE_DATE_EPOCH, each package's SBOM, the signing key (private half and name), and the code
 * that packages (engine, apk and melange module files: path, size, mtime): a change to any of them is another
 * key. Entries live on disk under the package cache (`<cacheDir>/packaged/<key>/`), written to a
 * temporary directory and renamed into place, bounded in count and bytes (least recently used
 * go first). Anything unexpected in an entry makes it a miss, and packaging runs as before.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  copyFile,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readApkHead, type SigningKey } from '@melange2/apk';
import { dumpConfig } from '@melange2/melange';
import { z } from 'zod';
import { isErrnoCode } from '../errno.js';
import type { PackageOptionsIn, PackagedApk } from './package.js';
import { packageSbom } from './sbom.js';

/** Entries kept, and their bytes at most (the least recently used go first). */
const MAX_ENTRIES = 64;
const MAX_BYTES = 2 * 1024 ** 3;
const META = 'packaged.json';
const STALE_TMP_MS = 3600_000;

const text = z.string().max(1 << 20);
const texts = z.array(text).max(1 << 16);
const count = z.number().int().nonnegative();
/** `.PKGINFO` as packaging returned it (the parsed control file drops empty fields). */
const Info = z.object({
  name: text,
  version: text,
  arch: text,
  size: count,
  origin: text.exactOptional(),
  description: text.exactOptional(),
  url: text.exactOptional(),
  commit: text.exactOptional(),
  maintainer: text.exactOptional(),
  builddate: count.exactOptional(),
  license: text.exactOptional(),
  depends: texts,
  provides: texts,
  replaces: texts,
  providerPriority: z.number().int().exactOptional(),
  replacesPriority: z.number().int().exactOptional(),
  installIf: texts,
  triggers: texts,
  datahash: text.exactOptional(),
});

const Meta = z.object({
  key: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: count,
  packages: z
    .array(
      z.object({
        name: z.string().min(1),
        file: z.string().regex(/^[^/\\]+\.apk$/),
        info: Info,
        checksum: text,
        fileSize: count,
        sca: z.object({
          provides: z.array(z.string()),
          depends: z.array(z.string()),
          warnings: z.array(z.string()),
        }),
      }),
    )
    .max(4096),
});
type Meta = z.infer<typeof Meta>;

/** Hashes a stream of length-prefixed fields (no field can run into the next). */
class Fields {
  readonly #h = createHash('sha256');
  put(...xs: readonly (string | number)[]): this {
    for (const x of xs) {
      const s = String(x);
      this.#h.update(`${Buffer.byteLength(s)}:`).update(s);
    }
    return this;
  }
  bytes(b: Buffer): this {
    this.#h.update(`${b.length}:`).update(b);
    return this;
  }
  hex(): string {
    return this.#h.digest('hex');
  }
}

/** Files up to this size are read whole (a stream's 1 MiB buffer per small file cost 4 ms each). */
const SMALL_FILE = 16 << 20;
const PARALLEL_DIGESTS = 8;

async function fileDigest(path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  if (size <= SMALL_FILE) return h.update(await readFile(path)).digest('hex');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c as Buffer);
  return h.digest('hex');
}

/** Every entry of a package directory as packaging sees it, in bytewise path order. */
async function treeFields(f: Fields, dir: string): Promise<void> {
  const links = new Map<string, string>();
  const rec = async (rel: string): Promise<void> => {
    const names = (await readdir(rel ? join(dir, rel) : dir)).sort((a, b) =>
      Buffer.compare(Buffer.from(a), Buffer.from(b)),
    );
    const stats = await Promise.all(names.map((n) => lstat(join(dir, rel ? `${rel}/${n}` : n))));
    // File digests of a directory, a few at a time (they go into the key in path order below).
    const digests = new Map<string, string>();
    for (let i = 0; i < names.length; i += PARALLEL_DIGESTS) {
      const chunk = names.slice(i, i + PARALLEL_DIGESTS).flatMap((n, j) => {
        const st = stats[i + j]!;
        return st.isFile() ? [{ n, st }] : [];
      });
      await Promise.all(
        chunk.map(async ({ n, st }) => {
          digests.set(n, await fileDigest(join(dir, rel ? `${rel}/${n}` : n), st.size));
        }),
      );
    }
    for (const [i, n] of names.entries()) {
      const r = rel ? `${rel}/${n}` : n;
      const abs = join(dir, r);
      const st = stats[i]!;
      const perm = st.mode & 0o7777;
      if (st.isDirectory()) {
        f.put('d', r, perm);
        await rec(r);
      } else if (st.isSymbolicLink()) f.put('l', r, await readlink(abs));
      else if (st.isFile()) {
        const ino = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? links.get(ino) : undefined;
        if (first !== undefined) f.put('h', r, perm, first);
        else {
          if (st.nlink > 1) links.set(ino, r);
          f.put('f', r, perm, st.size, digests.get(n)!);
        }
      } else f.put('?', r, st.mode);
    }
  };
  await rec('');
}

/** The code that makes packages, as installed: every module file of the engine, apk and melange. */
let codeId: Promise<string> | undefined;
function codeIdentity(): Promise<string> {
  codeId ??= (async () => {
    const roots = [dirname(dirname(fileURLToPath(import.meta.url)))];
    for (const lib of ['@melange2/apk', '@melange2/melange']) {
      try {
        roots.push(dirname(fileURLToPath(import.meta.resolve(lib))));
      } catch {
        // A runtime without import.meta.resolve: the engine's own modules still count.
      }
    }
    const f = new Fields();
    for (const root of roots) {
      const files = (await readdir(root, { recursive: true, withFileTypes: true }))
        .filter((e) => e.isFile() && /\.(c|m)?[jt]s$/.test(e.name))
        .map((e) => join(e.parentPath, e.name))
        .sort();
      // Path, size and mtime: any edit, checkout or install of another version changes one.
      for (const file of files) {
        const st = await stat(file);
        f.put(relative(root, file), st.size, st.mtimeMs);
      }
    }
    return f.hex();
  })();
  return codeId;
}

const keyIds = new WeakMap<SigningKey, string>();
function signingKeyId(k: SigningKey): string {
  let id = keyIds.get(k);
  if (id === undefined) {
    const der = k.key.export({ type: 'pkcs8', format: 'der' });
    id = new Fields().put(k.publicName).bytes(der).hex();
    keyIds.set(k, id);
  }
  return id;
}

/** The key of a build's packages: a digest of every packaging input (see the module comment). */
export async function packagingKey(o: PackageOptionsIn): Promise<string> {
  const f = new Fields().put('packaged-1', await codeIdentity(), signingKeyId(o.signingKey));
  const { plan, parsed } = o;
  f.put(plan.arch, plan.package.fullVersion, plan.sourceDateEpoch, plan.packages.length, ...plan.packages);
  f.put(dumpConfig(parsed.config));
  for (const name of plan.packages) {
    f.put(name, JSON.stringify(packageSbom(parsed, plan, name)));
    const dir = join(o.melangeOut, name);
    const st = await stat(dir).catch((e: unknown) => {
      if (isErrnoCode(e, 'ENOENT')) return undefined;
      throw e;
    });
    if (!st) f.put('absent');
    else if (!st.isDirectory()) f.put('not a directory');
    else {
      f.put('tree');
      await treeFields(f, dir);
    }
  }
  return f.hex();
}

/** `<outDir>/<arch>/<file>` from a stored copy: temp name + rename, so readers never see half a file. */
async function place(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  const tmp = `${to}.m2-tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await copyFile(from, tmp);
    await rename(tmp, to);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * The APKs stored under `key`, copied into the output repository; undefined when there is no
 * usable entry (absent, unreadable, or not what it claims).
 */
export async function reusePackaged(
  store: string,
  key: string,
  o: PackageOptionsIn,
): Promise<PackagedApk[] | undefined> {
  const entry = join(store, key);
  let meta: Meta;
  try {
    const parsed = Meta.safeParse(JSON.parse(await readFile(join(entry, META), 'utf8')));
    if (!parsed.success || parsed.data.key !== key) return undefined;
    meta = parsed.data;
  } catch {
    return undefined;
  }
  if (meta.packages.map((p) => p.name).join('\n') !== o.plan.packages.join('\n')) return undefined;
  const out: PackagedApk[] = [];
  try {
    for (const p of meta.packages) {
      const to = join(o.outDir, o.plan.arch, p.file);
      await place(join(entry, p.file), to);
      // The copy is the APK that was stored: its control member's identity and size agree.
      const head = await readApkHead(to);
      if (head.info.name !== p.name || head.checksum !== p.checksum || head.fileSize !== p.fileSize)
        return undefined;
      out.push({
        name: p.name,
        path: to,
        info: p.info,
        checksum: p.checksum,
        fileSize: p.fileSize,
        installedSize: p.info.size,
        sca: p.sca,
      });
    }
    const now = new Date();
    await utimes(entry, now, now);
  } catch {
    return undefined;
  }
  return out;
}

/** Stores a build's APKs under `key` (temp directory + rename), then trims the store to its bounds. */
export async function storePackaged(store: string, key: string, apks: readonly PackagedApk[]): Promise<void> {
  await mkdir(store, { recursive: true });
  const tmp = join(store, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await mkdir(tmp);
    let bytes = 0;
    const packages: Meta['packages'] = [];
    for (const a of apks) {
      const file = a.path.slice(a.path.lastIndexOf('/') + 1);
      await copyFile(a.path, join(tmp, file));
      bytes += a.fileSize;
      packages.push({
        name: a.name,
        file,
        info: a.info,
        checksum: a.checksum,
        fileSize: a.fileSize,
        sca: { provides: [...a.sca.provides], depends: [...a.sca.depends], warnings: [...a.sca.warnings] },
      });
    }
    await writeFile(join(tmp, META), JSON.stringify({ key, bytes, packages } satisfies Meta));
    await rename(tmp, join(store, key)).catch(async (e: unknown) => {
      // Another build stored the same key first: theirs is as good as ours.
      if (!isErrnoCode(e, 'ENOTEMPTY', 'EEXIST')) throw e;
    });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  await trim(store);
}

/** Removes the least recently used entries beyond {@link MAX_ENTRIES} or {@link MAX_BYTES}. */
async function trim(store: string): Promise<void> {
  const entries: { dir: string; at: number; bytes: number }[] = [];
  for (const name of await readdir(store)) {
    const dir = join(store, name);
    if (name.startsWith('.tmp-')) {
      // Left by a build that died while storing (a live one renames it within seconds).
      const st = await stat(dir).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > STALE_TMP_MS) await rm(dir, { recursive: true, force: true });
      continue;
    }
    if (!/^[0-9a-f]{64}$/.test(name)) continue;
    try {
      const st = await stat(dir);
      const meta = Meta.safeParse(JSON.parse(await readFile(join(dir, META), 'utf8')));
      entries.push({ dir, at: st.mtimeMs, bytes: meta.success ? meta.data.bytes : 0 });
    } catch {
      // Being removed by another build, or half-made: not ours to count.
    }
  }
  entries.sort((a, b) => b.at - a.at);
  let bytes = 0;
  for (const [i, e] of entries.entries()) {
    bytes += e.bytes;
    if (i >= MAX_ENTRIES || bytes > MAX_BYTES) await rm(e.dir, { recursive: true, force: true });
  }
}
