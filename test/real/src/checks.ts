/**
 * The checks every package of the real corpus must pass, as Wolfi expects of melange's output:
 * stripped ELF files where the config strips, `so:`/`cmd:`/`pc:` provides and `so:` depends as
 * SCA derives them from the files, what `-dev` and `-doc` hold, static libraries only in `-dev` /
 * `-static`, and no file outside the directories Wolfi packages use. Pure functions over
 * {@link PackageContents}: the unit tests feed them synthetic packages.
 */
import { posix } from 'node:path';
import type { PackageContents, PackageFile } from './apk-contents.js';

const CHECKS = [
  'stripped',
  'so-provides',
  'so-depends',
  'cmd-provides',
  'pc-provides',
  'dev-contents',
  'dev-symlink-depends',
  'static-split',
  'doc-contents',
  'paths',
  'elf-readable',
  'fresh-deps',
] as const;
type CheckName = (typeof CHECKS)[number];

export interface Finding {
  readonly package: string;
  readonly check: CheckName;
  readonly message: string;
}

export interface OriginContext {
  /** Whether the config runs the `strip` pipeline (then no ELF may keep debug sections). */
  readonly strips: boolean;
}

/** Library dirs whose shared objects give `so:` provides (melange's). */
const LIB_DIRS = new Set(['lib', 'usr/lib', 'lib64', 'usr/lib64']);
const BIN_DIRS = new Set(['bin', 'sbin', 'usr/bin', 'usr/sbin']);
const PC_DIRS = new Set(['usr/lib/pkgconfig', 'usr/share/pkgconfig']);
/** Top-level directories a Wolfi package may put files in (merged /usr: no /bin, /lib). */
const ALLOWED_TOP = new Set(['usr', 'etc', 'var', 'opt']);
const DOC_PREFIXES = ['usr/share/man/', 'usr/share/info/', 'usr/share/doc/'];
const ET_EXEC = 2;
const ET_DYN = 3;
const MAX_LINK_HOPS = 16;

const names = (xs: readonly string[]) => new Set(xs.map((x) => x.split(/[<>=~]/)[0]!));
const isDev = (n: string) => n.endsWith('-dev');
const isStaticOk = (n: string) => isDev(n) || n.endsWith('-static');

function finding(pkg: PackageContents, check: CheckName, message: string): Finding {
  return { package: pkg.info.name, check, message };
}

/** Checks that need only the package itself. */
export function checkPackage(pkg: PackageContents, ctx: OriginContext): Finding[] {
  const out: Finding[] = [];
  const provides = names(pkg.info.provides);
  const depends = names(pkg.info.depends);
  const add = (check: CheckName, message: string) => out.push(finding(pkg, check, message));
  for (const f of pkg.files) {
    const top = f.path.split('/')[0]!;
    if (f.type !== 'directory' && !ALLOWED_TOP.has(top))
      add('paths', `${f.path}: outside ${[...ALLOWED_TOP].join('/, ')}/`);
    if (f.elfError) add('elf-readable', f.elfError);
    const dir = posix.dirname(f.path);
    const base = posix.basename(f.path);
    if (f.type === 'file' && BIN_DIRS.has(dir) && (f.mode & 0o555) === 0o555 && !provides.has(`cmd:${base}`))
      add('cmd-provides', `${f.path}: no cmd:${base} provide`);
    if (
      f.type === 'file' &&
      PC_DIRS.has(dir) &&
      base.endsWith('.pc') &&
      !provides.has(`pc:${base.slice(0, -3)}`)
    )
      add('pc-provides', `${f.path}: no pc:${base.slice(0, -3)} provide`);
    if (f.type === 'file' && base.endsWith('.a') && !isStaticOk(pkg.info.name))
      add('static-split', `${f.path}: a static library outside -dev/-static`);
    if (f.elf) elfChecks(f, ctx, provides, depends, add);
  }
  if (isDev(pkg.info.name)) {
    const hasHeaders = pkg.files.some((f) => f.path.startsWith('usr/include/') && f.type === 'file');
    const hasPc = pkg.files.some((f) => f.path.endsWith('.pc'));
    if (!hasHeaders && !hasPc) add('dev-contents', 'no headers (usr/include) and no .pc file');
  }
  if (pkg.info.name.endsWith('-doc')) {
    const docs = pkg.files.some(
      (f) => f.type !== 'directory' && DOC_PREFIXES.some((p) => f.path.startsWith(p)),
    );
    if (!docs) add('doc-contents', 'no man, info or doc pages');
  }
  return out;
}

function elfChecks(
  f: PackageFile,
  ctx: OriginContext,
  provides: Set<string>,
  depends: Set<string>,
  add: (check: CheckName, message: string) => void,
): void {
  const { info, sections } = f.elf!;
  if (info.type !== ET_EXEC && info.type !== ET_DYN) return;
  if (ctx.strips && !f.path.startsWith('usr/lib/debug/')) {
    const debug = sections.filter((s) => s.startsWith('.debug_'));
    if (debug.length) add('stripped', `${f.path}: not stripped (${debug.join(', ')})`);
  }
  if (info.soname && LIB_DIRS.has(posix.dirname(f.path)) && !provides.has(`so:${info.soname}`))
    add('so-provides', `${f.path}: SONAME ${info.soname} but no so:${info.soname} provide`);
  const need = info.needed.filter((n) => n.includes('.so.'));
  if (info.interpreter) need.push(posix.basename(info.interpreter));
  for (const n of need) {
    if (!provides.has(`so:${n}`) && !depends.has(`so:${n}`))
      add('so-depends', `${f.path}: needs ${n} but no so:${n} depend`);
  }
}

/** Follows a symlink among the files of an origin's packages (targets relative to its directory or to /). */
function follow(files: ReadonlyMap<string, PackageFile>, from: PackageFile): PackageFile | undefined {
  let cur: PackageFile | undefined = from;
  for (let hop = 0; cur?.type === 'symlink' && hop < MAX_LINK_HOPS; hop++) {
    const link: string = cur.link ?? '';
    const next = link.startsWith('/')
      ? posix.normalize(link).slice(1)
      : posix.join(posix.dirname(cur.path), link);
    cur = files.get(next);
  }
  return cur?.type === 'file' ? cur : undefined;
}

/** Checks across the packages one config made: what -dev links to, and that -dev has the .so link. */
export function checkOrigin(pkgs: readonly PackageContents[]): Finding[] {
  const out: Finding[] = [];
  const files = new Map<string, PackageFile>();
  for (const p of pkgs) for (const f of p.files) files.set(f.path, f);
  const sharedLibs = pkgs.flatMap((p) =>
    p.files.filter(
      (f) => f.elf?.info.soname && LIB_DIRS.has(posix.dirname(f.path)) && f.elf.info.type === ET_DYN,
    ),
  );
  for (const dev of pkgs.filter((p) => isDev(p.info.name))) {
    const depends = names(dev.info.depends);
    const links = dev.files.filter(
      (f) => f.type === 'symlink' && f.path.endsWith('.so') && LIB_DIRS.has(posix.dirname(f.path)),
    );
    for (const l of links) {
      const target = follow(files, l);
      const soname = target?.elf?.info.soname;
      if (soname && !depends.has(`so:${soname}`))
        out.push(finding(dev, 'dev-symlink-depends', `${l.path} → ${soname}, but no so:${soname} depend`));
    }
    // A regular-file `lib*.so` is a linker script (libbsd's): melange's split/dev moves only
    // .so symlinks, so it stays where it is, in whichever package, and -dev needs no link then.
    const linkerScript = pkgs.some((p) =>
      p.files.some((f) => f.type === 'file' && f.path.endsWith('.so') && LIB_DIRS.has(posix.dirname(f.path))),
    );
    if (sharedLibs.length && !links.length && !linkerScript)
      out.push(finding(dev, 'dev-contents', `no unversioned .so link to ${sharedLibs[0]!.elf!.info.soname}`));
  }
  return out;
}
