import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type Stats } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { ApkError } from './errors.js';
import { gzipMember } from './gzip.js';
import { type SigningKey, signData } from './keys.js';
import { formatPkginfo, type PackageInfo, validatePackageInfo } from './pkginfo.js';
import { encodeEntry, encodeHeader, EOF_BLOCKS, padding, type TarHeader } from './tar.js';
import { tempPath, withAtomicFile } from './fsutil.js';

export const SCRIPT_NAMES = [
  'pre-install',
  'post-install',
  'pre-upgrade',
  'post-upgrade',
  'pre-deinstall',
  'post-deinstall',
  'trigger',
] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

export interface PackOptions {
  /** Directory whose contents become the package's files; omit for a package without files. */
  dir?: string;
  /** Metadata; `size` and `datahash` are computed. */
  info: PackageInfo;
  scripts?: Partial<Record<ScriptName, string | Buffer>>;
  /**
   * Further control members after `.PKGINFO` (mode 0644), by name: each a dot and a plain file
   * name that is not `.PKGINFO` or a script's (e.g. `.melange.yaml`).
   */
  controlFiles?: Readonly<Record<string, string | Buffer>>;
  /** Signs the control member with RSA256 when given (several keys: several signatures). */
  signingKey?: SigningKeys;
  /** Every mtime in the package; defaults to $SOURCE_DATE_EPOCH, else 0. */
  sourceDateEpoch?: number;
  /** Where the .apk goes (written atomically). */
  output: string;
  /** Data member compression level (default 6, as `gzip` uses). */
  level?: number;
}

export interface PackResult {
  path: string;
  info: PackageInfo;
  /** `Q1` + base64 SHA-1 of the control member: the index `C:` field. */
  checksum: string;
  fileSize: number;
  files: number;
}

interface SourceEntry {
  rel: string;
  st: Stats;
}

/** Every path under `dir`, sorted bytewise so parents come before their children. */
async function walk(dir: string): Promise<SourceEntry[]> {
  const out: SourceEntry[] = [];
  const rec = async (rel: string) => {
    const names = await readdir(rel ? join(dir, rel) : dir);
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const st = await lstat(join(dir, r));
      out.push({ rel: r, st });
      if (st.isDirectory()) await rec(r);
    }
  };
  await rec('');
  return out.sort((a, b) => Buffer.compare(Buffer.from(a.rel), Buffer.from(b.rel)));
}

const SMALL_FILE = 16 << 20;

async function sha1File(path: string): Promise<string> {
  const h = createHash('sha1');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

interface DataPlan {
  entries: SourceEntry[];
  installedSize: number;
}

function planData(dir: string, entries: SourceEntry[]): DataPlan {
  let installedSize = 0;
  const seen = new Set<string>();
  for (const e of entries) {
    if (e.st.isFile()) {
      const ino = `${e.st.dev}:${e.st.ino}`;
      if (e.st.nlink > 1 && seen.has(ino)) continue;
      seen.add(ino);
      installedSize += e.st.size;
    } else if (!e.st.isDirectory() && !e.st.isSymbolicLink()) {
      throw new ApkError(
        'io',
        `${join(dir, e.rel)}: unsupported file type (only files, directories, symlinks)`,
        {
          file: join(dir, e.rel),
        },
      );
    }
  }
  return { entries, installedSize };
}

/** The data tar as a stream of buffers: PAX SHA-1 per file and symlink, EOF blocks kept. */
async function* dataTar(dir: string, plan: DataPlan, mtime: number): AsyncGenerator<Buffer> {
  const firstPath = new Map<string, string>();
  for (const { rel, st } of plan.entries) {
    const base = { name: rel, mtime, uid: 0, gid: 0, uname: 'root', gname: 'root' };
    const abs = join(dir, rel);
    if (st.isDirectory()) {
      yield encodeHeader({ ...base, type: 'directory', mode: st.mode & 0o7777 });
    } else if (st.isSymbolicLink()) {
      const target = await readlink(abs);
      const sum = createHash('sha1').update(target).digest('hex');
      yield encodeHeader({
        ...base,
        type: 'symlink',
        mode: 0o777,
        linkname: target,
        pax: { 'APK-TOOLS.checksum.SHA1': sum },
      });
    } else {
      const ino = `${st.dev}:${st.ino}`;
      const earlier = st.nlink > 1 ? firstPath.get(ino) : undefined;
      if (earlier !== undefined) {
        yield encodeHeader({ ...base, type: 'link', mode: st.mode & 0o7777, linkname: earlier });
        continue;
      }
      if (st.nlink > 1) firstPath.set(ino, rel);
      const h: TarHeader = { ...base, type: 'file', mode: st.mode & 0o7777, size: st.size };
      if (st.size <= SMALL_FILE) {
        const fh = await open(abs, 'r');
        let content: Buffer;
        try {
          content = await fh.readFile();
        } finally {
          await fh.close();
        }
        if (content.length !== st.size)
          throw new ApkError('io', `${abs}: changed while packing`, { file: abs });
        h.pax = { 'APK-TOOLS.checksum.SHA1': createHash('sha1').update(content).digest('hex') };
        yield Buffer.concat([encodeHeader(h), content, padding(content.length)]);
      } else {
        h.pax = { 'APK-TOOLS.checksum.SHA1': await sha1File(abs) };
        yield encodeHeader(h);
        let n = 0;
        for await (const chunk of createReadStream(abs, { highWaterMark: 1 << 20 })) {
          n += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (n !== st.size) throw new ApkError('io', `${abs}: changed while packing`, { file: abs });
        yield padding(n);
      }
    }
  }
  yield EOF_BLOCKS;
}

function hashTap(h: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      cb(null, chunk);
    },
  });
}

export function sourceDateEpoch(given?: number): number {
  if (given !== undefined) return given;
  const env = process.env['SOURCE_DATE_EPOCH'];
  if (env && /^\d+$/.test(env)) return Number(env);
  return 0;
}

const RESERVED_CONTROL = new Set(['.PKGINFO', ...SCRIPT_NAMES.map((s) => `.${s}`)]);

/** Control tar segment (no EOF blocks): `.PKGINFO` first, then further control files, then the scripts. */
export function controlSegment(
  info: PackageInfo,
  scripts: PackOptions['scripts'],
  mtime: number,
  files: PackOptions['controlFiles'] = {},
): Buffer {
  const base = { mtime, uid: 0, gid: 0, uname: 'root', gname: 'root' };
  const parts = [
    encodeEntry({ ...base, name: '.PKGINFO', type: 'file', mode: 0o644 }, Buffer.from(formatPkginfo(info))),
  ];
  for (const name of Object.keys(files).sort()) {
    if (!/^\.[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || RESERVED_CONTROL.has(name))
      throw new ApkError(
        'bad-pkginfo',
        `control file ${JSON.stringify(name)}: not a plain dot-file name of its own`,
      );
    parts.push(encodeEntry({ ...base, name, type: 'file', mode: 0o644 }, Buffer.from(files[name]!)));
  }
  for (const s of SCRIPT_NAMES) {
    const body = scripts?.[s];
    if (body === undefined) continue;
    parts.push(encodeEntry({ ...base, name: `.${s}`, type: 'file', mode: 0o755 }, Buffer.from(body)));
  }
  return Buffer.concat(parts);
}

/** Signature tar segment (no EOF blocks) with one `.SIGN.RSA256.<key>` entry, gzipped. */
/** One key, or several (e.g. while rotating keys): every signature goes into one member. */
export type SigningKeys = SigningKey | readonly SigningKey[];

function keyList(keys: SigningKeys | undefined): readonly SigningKey[] {
  if (keys === undefined) return [];
  return Array.isArray(keys) ? (keys as readonly SigningKey[]) : [keys as SigningKey];
}

/**
 * The signature member: one `.SIGN.RSA256.<key>` entry per key over `signed`, in one tar segment
 * without EOF blocks. Empty when there are no keys.
 */
export function signatureMember(keys: SigningKeys | undefined, signed: Buffer, mtime: number): Buffer {
  const list = keyList(keys);
  if (list.length === 0) return Buffer.alloc(0);
  const seg = Buffer.concat(
    list.map((key) =>
      encodeEntry(
        {
          name: `.SIGN.RSA256.${key.publicName}`,
          type: 'file',
          mode: 0o644,
          mtime,
          uid: 0,
          gid: 0,
          uname: 'root',
          gname: 'root',
        },
        signData(key, signed, 'RSA256'),
      ),
    ),
  );
  return gzipMember(seg);
}

export function identityOf(controlMember: Buffer): string {
  return `Q1${createHash('sha1').update(controlMember).digest('base64')}`;
}

/**
 * Builds an .apk v2 from a directory: data member first (its SHA-256 goes into `.PKGINFO`), then
 * the control member, then the signature over it; written as signature ‖ control ‖ data.
 */
export async function packApk(opts: PackOptions): Promise<PackResult> {
  const mtime = sourceDateEpoch(opts.sourceDateEpoch);
  validatePackageInfo(opts.info, opts.output);
  if (opts.info.triggers.length > 0 && opts.scripts?.trigger === undefined) {
    throw new ApkError('bad-pkginfo', `${opts.output}: triggers are set but there is no trigger script`, {
      pkg: opts.info.name,
    });
  }
  const entries = opts.dir ? await walk(opts.dir) : [];
  const plan = planData(opts.dir ?? '', entries);
  await mkdir(dirname(opts.output), { recursive: true });
  const dataTmp = tempPath(`${opts.output}.data`);
  try {
    const dh = createHash('sha256');
    await pipeline(
      Readable.from(dataTar(opts.dir ?? '', plan, mtime)),
      createGzip({ level: opts.level ?? 6, chunkSize: 256 << 10 }),
      hashTap(dh),
      createWriteStream(dataTmp),
    );
    const hasContent = entries.length > 0 || Object.keys(opts.scripts ?? {}).length > 0;
    const info: PackageInfo = {
      ...opts.info,
      size: plan.installedSize === 0 && hasContent ? 1 : plan.installedSize,
      datahash: dh.digest('hex'),
    };
    if (info.builddate === undefined && mtime) info.builddate = mtime;
    const ctl = gzipMember(controlSegment(info, opts.scripts, mtime, opts.controlFiles));
    const sig = signatureMember(opts.signingKey, ctl, mtime);
    const fileSize = await withAtomicFile(opts.output, async (tmp) => {
      await writeFile(tmp, Buffer.concat([sig, ctl]));
      await pipeline(createReadStream(dataTmp), createWriteStream(tmp, { flags: 'a' }));
      return (await lstat(tmp)).size;
    });
    return { path: opts.output, info, checksum: identityOf(ctl), fileSize, files: entries.length };
  } finally {
    await rm(dataTmp, { force: true });
  }
}
