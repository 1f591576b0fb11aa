/** APKINDEX text: one record per package, in apk-tools' field and record order, and its parser. */

import { ApkError } from './errors.js';
import type { PackageInfo } from './pkginfo.js';
import { compareVersions } from './version.js';

/** One package as an index lists it: its metadata plus identity and file size. */
export interface IndexEntry extends PackageInfo {
  /** `C:`: `Q1` + base64 SHA-1 of the control member. */
  checksum: string;
  /** `S:`: the .apk file's size in bytes. */
  fileSize: number;
}

export interface ApkIndex {
  description: string;
  entries: IndexEntry[];
}

/** One record in apk-tools' field order (`apk_pkg_write_index_header`), ending with a blank line. */
export function formatIndexRecord(e: IndexEntry): string {
  let s = `C:${e.checksum}\nP:${e.name}\nV:${e.version}\n`;
  if (e.arch) s += `A:${e.arch}\n`;
  s += `S:${e.fileSize}\nI:${e.size}\nT:${e.description ?? ''}\nU:${e.url ?? ''}\nL:${e.license ?? ''}\n`;
  if (e.origin) s += `o:${e.origin}\n`;
  if (e.maintainer) s += `m:${e.maintainer}\n`;
  if (e.builddate) s += `t:${e.builddate}\n`;
  if (e.commit) s += `c:${e.commit}\n`;
  if (e.providerPriority) s += `k:${e.providerPriority}\n`;
  if (e.depends.length) s += `D:${e.depends.join(' ')}\n`;
  if (e.provides.length) s += `p:${e.provides.join(' ')}\n`;
  if (e.installIf.length) s += `i:${e.installIf.join(' ')}\n`;
  return `${s}\n`;
}

function strcasecmp(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
}

/** `apk index` order: name case-insensitively (ties bytewise), then version ascending. */
export function compareEntries(a: IndexEntry, b: IndexEntry): number {
  return (
    strcasecmp(a.name, b.name) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
    compareVersions(a.version, b.version) ||
    (a.arch < b.arch ? -1 : a.arch > b.arch ? 1 : 0)
  );
}

export function formatIndexText(entries: readonly IndexEntry[]): string {
  return [...entries].sort(compareEntries).map(formatIndexRecord).join('');
}

/**
 * The shared, frozen empty list of parsed index entries (most have no replaces, triggers or
 * install_if): 200,000 entries would otherwise carry 600,000 empty arrays. Copy before mutating.
 */
const NONE = Object.freeze([]) as unknown as string[];

const split = (v: string) =>
  v === '' ? NONE : v.includes('  ') ? v.split(' ').filter((x) => x !== '') : v.split(' ');

/**
 * Parses APKINDEX text. Unknown lowercase letters are ignored (as apk does); an unknown uppercase
 * letter, a line without `X:`, or a record without C/P/V is an error naming `where` and the line.
 */
export function parseIndexText(text: string | Buffer, where: string): IndexEntry[] {
  return typeof text === 'string' ? parseIndexString(text, where) : parseIndexBuffer(text, where);
}

/**
 * Decodes and parses in windows of under 1 MB cut at record boundaries, so a big index never
 * exists as one giant string next to its bytes.
 */
function parseIndexBuffer(buf: Buffer, where: string): IndexEntry[] {
  // Under 1 MB, so Node decodes onto the V8 heap instead of allocating external strings.
  const WINDOW = 960 << 10;
  const out: IndexEntry[] = [];
  const pool = new Map<string, string>();
  let pos = 0;
  while (pos < buf.length) {
    let end = Math.min(buf.length, pos + WINDOW);
    if (end < buf.length) {
      const cut = buf.lastIndexOf('\n\n', end);
      end = cut > pos ? cut + 2 : buf.indexOf('\n\n', end) < 0 ? buf.length : buf.indexOf('\n\n', end) + 2;
    }
    const text = buf.toString('utf8', pos, end);
    let part: IndexEntry[];
    try {
      part = parseIndexString(text, where, 0, pool);
    } catch (e) {
      if (!(e instanceof ApkError) || e.context.line === undefined || pos === 0) throw e;
      // Line numbers restart per window: count the lines before it, only now that it matters.
      let before = 0;
      for (let i = buf.indexOf(10); i >= 0 && i < pos; i = buf.indexOf(10, i + 1)) before++;
      part = parseIndexString(text, where, before, pool);
    }
    for (const e of part) out.push(e);
    pos = end;
  }
  return out;
}

/**
 * Parses APKINDEX text. Unknown lowercase letters are ignored (as apk does); an unknown uppercase
 * letter, a line without `X:`, or a record without C/P/V is an error naming `where` and the line.
 */
function parseIndexString(
  text: string,
  where: string,
  lineBase = 0,
  pool = new Map<string, string>(),
): IndexEntry[] {
  const out: IndexEntry[] = [];
  // Values repeated across many records share one string instead of one slice each.
  const intern = (v: string) => {
    const got = pool.get(v);
    if (got !== undefined) return got;
    if (pool.size < 50_000) pool.set(v, v);
    return v;
  };
  let cur: IndexEntry | undefined;
  let started = 0;
  const bad = (line: number, msg: string): never => {
    throw new ApkError('bad-index', `${where}:${line + lineBase}: ${msg}`, {
      file: where,
      line: line + lineBase,
    });
  };
  const fresh = (): IndexEntry => ({
    checksum: '',
    name: '',
    version: '',
    arch: '',
    size: 0,
    fileSize: 0,
    depends: NONE,
    provides: NONE,
    replaces: NONE,
    installIf: NONE,
    triggers: NONE,
  });
  const finish = (line: number) => {
    if (!cur) return;
    if (!cur.checksum || !cur.name || !cur.version) {
      const missing = ['C', 'P', 'V'].filter((_k, i) => ![cur!.checksum, cur!.name, cur!.version][i]);
      bad(started, `record ending at line ${line} lacks ${missing.join(', ')}:`);
    }
    out.push(cur);
    cur = undefined;
  };
  let pos = 0;
  let lineNo = 0;
  const n = text.length;
  while (pos < n) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = n;
    lineNo++;
    if (end - pos < 2) {
      finish(lineNo);
      pos = end + 1;
      continue;
    }
    if (text.charCodeAt(pos + 1) !== 58 /* : */) {
      bad(lineNo, `expected "X:value", got "${text.slice(pos, Math.min(end, pos + 60))}"`);
    }
    if (!cur) {
      cur = fresh();
      started = lineNo;
    }
    const e = cur;
    const c = text.charCodeAt(pos);
    const v = text.slice(pos + 2, end);
    switch (c) {
      case 67 /* C */:
        e.checksum = v;
        break;
      case 80 /* P */:
        e.name = v;
        break;
      case 86 /* V */:
        e.version = v;
        break;
      case 65 /* A */:
        e.arch = intern(v);
        break;
      case 83 /* S */:
        e.fileSize = +v;
        break;
      case 73 /* I */:
        e.size = +v;
        break;
      case 84 /* T */:
        e.description = v;
        break;
      case 85 /* U */:
        e.url = intern(v);
        break;
      case 76 /* L */:
        e.license = intern(v);
        break;
      case 111 /* o */:
        e.origin = v;
        break;
      case 109 /* m */:
        e.maintainer = intern(v);
        break;
      case 116 /* t */:
        e.builddate = +v;
        break;
      case 99 /* c */:
        e.commit = v;
        break;
      case 107 /* k */:
        e.providerPriority = +v;
        break;
      // apk appends when a list field repeats.
      case 68 /* D */:
        e.depends = e.depends.length ? [...e.depends, ...split(v)] : split(v);
        break;
      case 112 /* p */:
        e.provides = e.provides.length ? [...e.provides, ...split(v)] : split(v);
        break;
      case 105 /* i */:
        e.installIf = e.installIf.length ? [...e.installIf, ...split(v)] : split(v);
        break;
      default:
        if (c >= 65 && c <= 90)
          bad(lineNo, `unknown field "${text[pos]}:" (apk marks such packages uninstallable)`);
    }
    pos = end + 1;
  }
  finish(lineNo + 1);
  return out;
}
