import { ApkError } from './errors.js';
import { type VersionOp, versionMatches } from './version.js';

/** One dependency as written in `D:`, `depend =`, world or `install_if`: `[!]name[@tag][op version]`. */
export interface Dependency {
  name: string;
  /** `!name`: nothing matching may be installed. */
  conflict: boolean;
  /** `name@tag`: only from the repository tagged `tag` (world entries only). */
  tag?: string;
  op?: VersionOp;
  version?: string;
}

const NAME_RE = /^[A-Za-z0-9+._:/,[\]-]+$/;
const OPS_BY_LENGTH: readonly VersionOp[] = [
  '<=',
  '>=',
  '<~',
  '>~',
  '><',
  '=~' as VersionOp,
  '<',
  '=',
  '>',
  '~',
];

/** Parses one dependency; throws an ApkError naming `where` when it is malformed. */
export function parseDependency(text: string, where = 'dependency'): Dependency {
  let s = text.trim();
  const conflict = s.startsWith('!');
  if (conflict) s = s.slice(1);
  // The name ends at the first operator character or `@`.
  const m = /^([^<>=~@]+)(?:@([A-Za-z0-9_.-]+))?(?:([<>=~]+)(.+))?$/.exec(s);
  if (!m || !NAME_RE.test(m[1]!)) {
    throw new ApkError(
      'bad-dependency',
      `${where}: malformed dependency "${text}" (expected [!]name[@tag][op version])`,
    );
  }
  const dep: Dependency = { name: m[1]!, conflict };
  if (m[2] !== undefined) dep.tag = m[2];
  if (m[3] !== undefined) {
    let op = m[3];
    if (op === '=~') op = '~';
    if (!OPS_BY_LENGTH.includes(op as VersionOp)) {
      throw new ApkError('bad-dependency', `${where}: unknown operator "${op}" in "${text}"`);
    }
    dep.op = op as VersionOp;
    dep.version = m[4]!;
  }
  return dep;
}

export function formatDependency(d: Dependency): string {
  return `${d.conflict ? '!' : ''}${d.name}${d.tag ? `@${d.tag}` : ''}${d.op ? `${d.op}${d.version}` : ''}`;
}

/** A `provides` entry: `name` (virtual) or `name=version`. */
export interface Provide {
  name: string;
  version?: string;
}

export function parseProvide(text: string): Provide {
  const i = text.indexOf('=');
  return i < 0 ? { name: text } : { name: text.slice(0, i), version: text.slice(i + 1) };
}

/** The version of `name` this package offers, `null` for an unversioned provide, undefined if none. */
export function offeredVersion(
  pkg: { name: string; version: string; provides: readonly string[] },
  name: string,
): string | null | undefined {
  if (pkg.name === name) return pkg.version;
  for (const p of pkg.provides) {
    const pv = parseProvide(p);
    if (pv.name === name) return pv.version ?? null;
  }
  return undefined;
}

/**
 * True when the package satisfies the dependency's name and version (ignoring `conflict` and `tag`):
 * by its own name and version, or a provide; an unversioned provide satisfies only unversioned deps.
 */
export function satisfies(
  pkg: { name: string; version: string; provides: readonly string[]; checksum?: string },
  dep: Dependency,
): boolean {
  const v = offeredVersion(pkg, dep.name);
  if (v === undefined) return false;
  if (!dep.op) return true;
  if (dep.op === '><') return pkg.checksum === dep.version;
  if (v === null) return false;
  return versionMatches(v, dep.op, dep.version!);
}
