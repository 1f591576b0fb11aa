import { lstat, open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidVersion } from '@melange2/apk';
import type { PackageOptions } from '../config/types.js';
import { ElfError, isElf, parseElf } from './elf.js';

/** What melange's SCA finds in one package directory. */
export interface ScaResult {
  readonly provides: readonly string[];
  readonly depends: readonly string[];
  /** Files that looked like ELF but could not be read (reported, not fatal, as melange does). */
  readonly warnings: readonly string[];
}

export interface ScaOptions {
  /** The package's full version (`1.2.3-r0`), for `cmd:` provides. */
  readonly version: string;
  readonly options?: PackageOptions;
}

const LIB_DIRS = new Set(['lib', 'usr/lib', 'lib64', 'usr/lib64']);
const BIN_DIRS = new Set(['bin', 'sbin', 'usr/bin', 'usr/sbin']);
const PC_DIRS = new Set(['usr/lib/pkgconfig', 'usr/share/pkgconfig', 'lib/pkgconfig', 'usr/lib64/pkgconfig']);
/** ELF images beyond this are not read whole (none in practice: the dynamic section is small). */
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

async function startsWithElfMagic(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    return bytesRead === 4 && isElf(b);
  } finally {
    await fh.close();
  }
}

/** The part of a SONAME after `.so.` as an apk version (`libfoo.so.1.2` → `1.2`), else `0`. */
export function sonameVersion(soname: string): string {
  const i = soname.indexOf('.so.');
  const v = i >= 0 ? soname.slice(i + 4) : '';
  return v !== '' && isValidVersion(v) ? v : '0';
}

/** `Version:` and `Requires:` of a pkg-config file, with `${var}` expanded from its variables. */
export function parsePcFile(text: string): { version?: string; requires: string[] } {
  const vars = new Map<string, string>();
  const expand = (s: string) => s.replace(/\$\{([^}]+)\}/g, (_, k: string) => vars.get(k) ?? '');
  let version: string | undefined;
  let requires: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const v = /^([A-Za-z0-9_.]+)\s*=\s*(.*)$/.exec(line);
    if (v) {
      vars.set(v[1]!, expand(v[2]!));
      continue;
    }
    const kv = /^([A-Za-z.]+):\s*(.*)$/.exec(line);
    if (!kv) continue;
    if (kv[1] === 'Version') version = expand(kv[2]!).trim();
    else if (kv[1] === 'Requires')
      requires = expand(kv[2]!)
        .split(/[\s,]+/)
        .filter((t) => t !== '' && !/^[<>=!]/.test(t) && !/^\d/.test(t));
  }
  return { ...(version !== undefined ? { version } : {}), requires };
}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

/**
 * melange's SCA over a package directory: `so:` provides for SONAMEs of shared objects in the
 * library directories, `so:` depends for DT_NEEDED the package does not provide itself, `cmd:`
 * provides for executables in the bin directories, `pc:` provides (and depends) from .pc files.
 */
export async function analyzePackage(dir: string, opts: ScaOptions): Promise<ScaResult> {
  const o = opts.options ?? {};
  const provides: string[] = [];
  const needed = new Set<string>();
  const ownSonames = new Set<string>();
  const pcRequires = new Set<string>();
  const ownPc = new Set<string>();
  const warnings: string[] = [];
  for (const e of await walk(dir)) {
    const abs = join(dir, e.rel);
    if (BIN_DIRS.has(e.dir) && (e.kind === 'symlink' || (e.mode & 0o111) !== 0))
      if (!o['no-commands']) provides.push(`cmd:${e.base}=${opts.version}`);
    if (e.kind === 'file' && PC_DIRS.has(e.dir) && e.base.endsWith('.pc')) {
      const name = e.base.slice(0, -3);
      const pc = parsePcFile(await readFile(abs, 'utf8'));
      ownPc.add(name);
      provides.push(pc.version && isValidVersion(pc.version) ? `pc:${name}=${pc.version}` : `pc:${name}`);
      for (const r of pc.requires) pcRequires.add(r);
    }
    if (e.kind !== 'file' || e.size < 52 || e.size > MAX_ELF || !(await startsWithElfMagic(abs))) continue;
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
    for (const n of elf.needed) needed.add(n);
    if (elf.soname !== undefined && LIB_DIRS.has(e.dir) && elf.type === 3) {
      ownSonames.add(elf.soname);
      provides.push(`so:${elf.soname}=${sonameVersion(elf.soname)}`);
    }
  }
  const depends = [
    ...[...needed].filter((n) => !ownSonames.has(n)).map((n) => `so:${n}`),
    ...[...pcRequires].filter((n) => !ownPc.has(n)).map((n) => `pc:${n}`),
  ];
  return {
    provides: o['no-provides'] ? [] : sorted(provides),
    depends: o['no-depends'] ? [] : sorted(depends),
    warnings,
  };
}
