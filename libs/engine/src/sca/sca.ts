import { lstat, open, readdir, readFile, readlink } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import type { PackageOptions } from '@melange2/melange';
import { isErrnoCode } from '../errno.js';
import { ElfError, isElf, parseElf } from './elf.js';

/** What melange's SCA finds in one package directory. */
export interface ScaResult {
  readonly provides: readonly string[];
  readonly depends: readonly string[];
  /** Files that looked like ELF but could not be read (reported, not fatal, as melange does). */
  readonly warnings: readonly string[];
}

export interface ScaOptions {
  /** The package's full version (`1.2.3-r0`), for `cmd:`, `pc:` and `so-ver:` provides. */
  readonly version: string;
  readonly options?: PackageOptions;
  /**
   * Directories of the other packages of the same build (melange-out/<sub>): a `libfoo.so`
   * symlink into a sibling's library gives a dependency on that library's SONAME.
   */
  readonly relatives?: readonly string[];
}

const LIB_DIRS = new Set(['lib', 'usr/lib', 'lib64', 'usr/lib64']);
const BIN_DIRS = new Set(['bin', 'sbin', 'usr/bin', 'usr/sbin']);
/** Where a script's `#!` interpreter becomes a `cmd:` dependency. */
const SHEBANG_DIRS = new Set(['usr/bin', 'usr/local/bin', 'usr/local/sbin']);
const PC_DIRS = new Set([
  'usr/lib/pkgconfig',
  'usr/lib64/pkgconfig',
  'usr/share/pkgconfig',
  'usr/local/lib/pkgconfig',
  'usr/local/share/pkgconfig',
]);
/** Interpreters nothing provides as a regular `cmd:` file (symlinks, or several variants). */
const SHEBANG_IGNORED = new Set(['python3', 'python', 'sh', 'awk', 'luajit']);
/** ELF images beyond this are not read (the dynamic section of real libraries is far smaller). */
const MAX_ELF = 1 << 30;

interface Entry {
  readonly rel: string;
  readonly dir: string;
  readonly base: string;
  readonly kind: 'file' | 'symlink';
  readonly mode: number;
  readonly size: number;
}

async function walk(root: string): Promise<Entry[]> {
  const out: Entry[] = [];
  const rec = async (rel: string) => {
    const names = (await readdir(rel ? join(root, rel) : root)).sort();
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      const st = await lstat(join(root, r));
      if (st.isDirectory()) await rec(r);
      else if (st.isFile() || st.isSymbolicLink())
        out.push({
          rel: r,
          dir: rel,
          base: n,
          kind: st.isFile() ? 'file' : 'symlink',
          mode: st.mode,
          size: st.size,
        });
    }
  };
  await rec('');
  return out;
}

async function head(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(n);
    const { bytesRead } = await fh.read(b, 0, n, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The part of a SONAME after the first `.so.` when it is digits and dots (`libfoo.so.1.2` → `1.2`), else `0`. */
export function sonameVersion(soname: string): string {
  const i = soname.indexOf('.so.');
  if (i < 0) return '0';
  const v = soname.slice(i + 4).split('.so.')[0]!;
  return /^[0-9.]+$/.test(v) ? v : '0';
}

/** The command a `#!` line runs (`/usr/bin/env -S foo` → `foo`), or undefined for none or an ignored one. */
export function shebangCommand(firstBytes: Buffer): string | undefined {
  if (firstBytes.length < 2 || firstBytes[0] !== 0x23 || firstBytes[1] !== 0x21) return undefined;
  const line = firstBytes.subarray(2).toString('latin1').split('\n')[0]!;
  const toks = line.trim().split(/\s+/).filter(Boolean);
  let bin = toks[0];
  if (bin === undefined) return undefined;
  if (bin === '/usr/bin/env') {
    if (toks.length === 2) bin = toks[1]!;
    else if (toks.length >= 3 && toks[1] === '-S' && !toks[2]!.startsWith('-')) bin = toks[2]!;
    else return undefined;
  }
  const name = posix.basename(bin);
  return SHEBANG_IGNORED.has(name) ? undefined : name;
}

/** `Requires`, `Requires.private` and `Requires.internal` names of a pkg-config file, `${var}` expanded. */
export function parsePcFile(text: string): { requires: string[] } {
  const vars = new Map<string, string>();
  const expand = (s: string) => s.replace(/\$\{([^}]+)\}/g, (_, k: string) => vars.get(k) ?? '');
  const requires: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const v = /^([A-Za-z0-9_.]+)\s*=\s*(.*)$/.exec(line);
    if (v) {
      vars.set(v[1]!, expand(v[2]!));
      continue;
    }
    const kv = /^(Requires(?:\.private|\.internal)?):\s*(.*)$/.exec(line);
    if (!kv) continue;
    // `a >= 1.0, b c` → a, b, c: drop operators and the versions that follow them.
    const toks = expand(kv[2]!)
      .split(/[\s,]+/)
      .filter(Boolean);
    for (let i = 0; i < toks.length; i++) {
      if (/^[<>=!]/.test(toks[i]!)) {
        i++;
        continue;
      }
      requires.push(toks[i]!);
    }
  }
  return { requires };
}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

/** Symlink hops followed from a `.so` link to the library (`libX.so -> libX.so.N -> libX.so.N.M`). */
const MAX_LINK_HOPS = 16;

/** lstat that answers "not there" with undefined; other errors are real. */
async function lstatOrNone(p: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  return lstat(p).catch((e: unknown) => {
    if (isErrnoCode(e, 'ENOENT', 'ENOTDIR')) return undefined;
    throw e;
  });
}

/**
 * Follows symlinks from `rel` inside one package root, as opening the path in the package's
 * filesystem would (an absolute target is relative to the root): the regular file reached, or
 * undefined when the chain leaves the root, dangles, loops or exceeds {@link MAX_LINK_HOPS}.
 */
async function followInRoot(root: string, rel: string): Promise<string | undefined> {
  let cur = posix.normalize(rel);
  for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
    if (cur === '..' || cur.startsWith('../') || cur.startsWith('/')) return undefined;
    const abs = join(root, cur);
    const st = await lstatOrNone(abs);
    if (!st) return undefined;
    if (st.isFile()) return st.size < 52 || st.size > MAX_ELF ? undefined : abs;
    if (!st.isSymbolicLink()) return undefined;
    const target = await readlink(abs);
    cur = target.startsWith('/')
      ? posix.normalize(target).slice(1)
      : posix.normalize(posix.join(posix.dirname(cur), target));
  }
  return undefined;
}

/**
 * The SONAME of `name` in a library dir of one of `roots`, if it is an ELF there. As melange
 * does, a name that is itself a symlink (`libX.so.N -> libX.so.N.M`) is followed to the library.
 */
async function sonameIn(roots: readonly string[], name: string): Promise<string | undefined> {
  for (const r of roots) {
    for (const d of LIB_DIRS) {
      const p = await followInRoot(r, `${d}/${name}`);
      if (!p) continue;
      try {
        return parseElf(await readFile(p), p).soname;
      } catch (e) {
        // A link to something that is not an ELF library gives no dependency.
        if (e instanceof ElfError) return undefined;
        throw e;
      }
    }
  }
  return undefined;
}

/**
 * melange's SCA over a package directory:
 * - `so:SONAME=<libver>` and `so-ver:SONAME=<version>` for shared objects in the library dirs;
 * - `so:` depends for every ELF's DT_NEEDED (`.so.` names) and its interpreter, and for `*.so`
 *   symlinks into a sibling package's library, except what the package provides itself;
 * - `cmd:` provides for regular executables (r-x for all) in the bin dirs, and `cmd:` depends for
 *   the `#!` interpreters of scripts in usr/bin;
 * - `pc:` provides for .pc files in the pkg-config dirs, `pc:` depends from their Requires.
 */
export async function analyzePackage(dir: string, opts: ScaOptions): Promise<ScaResult> {
  const o = opts.options ?? {};
  const provides: string[] = [];
  const depends = new Set<string>();
  const warnings: string[] = [];
  for (const e of await walk(dir)) {
    const abs = join(dir, e.rel);
    if (e.kind === 'symlink') {
      if (e.base.includes('.so')) {
        const target = basename(await readlink(abs));
        const soname = await sonameIn([dir, ...(opts.relatives ?? [])], target);
        if (soname) depends.add(`so:${soname}`);
      }
      continue;
    }
    if (BIN_DIRS.has(e.dir) && (e.mode & 0o555) === 0o555 && !o['no-commands'])
      provides.push(`cmd:${e.base}=${opts.version}`);
    if (PC_DIRS.has(e.dir) && e.base.endsWith('.pc')) {
      provides.push(`pc:${e.base.slice(0, -3)}=${opts.version}`);
      for (const r of parsePcFile(await readFile(abs, 'utf8')).requires) depends.add(`pc:${r}`);
      continue;
    }
    if (e.size < 2) continue;
    const first = await head(abs, 80);
    if (SHEBANG_DIRS.has(e.dir)) {
      const cmd = shebangCommand(first);
      if (cmd) depends.add(`cmd:${cmd}`);
    }
    if (e.size < 52 || e.size > MAX_ELF || !isElf(first)) continue;
    let elf: ReturnType<typeof parseElf>;
    try {
      elf = parseElf(await readFile(abs), e.rel);
    } catch (err) {
      if (err instanceof ElfError) {
        warnings.push(err.message);
        continue;
      }
      throw err;
    }
    if (elf.interpreter) depends.add(`so:${basename(elf.interpreter).replace(/^ld-musl/, 'libc.musl')}`);
    for (const n of elf.needed) if (n.includes('.so.')) depends.add(`so:${n}`);
    // Executables with a SONAME (jlink) provide nothing, unless named like a library (libc, libcap).
    const libraryNamed = e.base.includes('.so.') || e.base.endsWith('.so');
    if (elf.soname !== undefined && (elf.interpreter === undefined || libraryNamed) && LIB_DIRS.has(e.dir)) {
      provides.push(`so:${elf.soname}=${sonameVersion(elf.soname)}`, `so-ver:${elf.soname}=${opts.version}`);
    }
  }
  const own = new Set(provides.map((p) => p.split('=')[0]!));
  return {
    provides: o['no-provides'] ? [] : sorted(provides),
    depends: o['no-depends'] ? [] : sorted([...depends].filter((d) => !own.has(d))),
    warnings,
  };
}
