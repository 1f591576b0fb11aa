/**
 * apk version rules (apk-tools 3 `version.c` semantics, which agree with 2.x on every 2.x vector):
 * `digits{.digits}{letter}{_suffix{digits}}…{~hexhash}{-rN}`.
 */

/** Token kinds in the order the grammar allows them; a kind never follows a larger one (except repeats). */
enum Kind {
  InitialDigit = 0,
  Digit = 1,
  Letter = 2,
  Suffix = 3,
  SuffixNo = 4,
  CommitHash = 5,
  RevisionNo = 6,
  End = 7,
  Invalid = 8,
}

const PRE_SUFFIXES = ['alpha', 'beta', 'pre', 'rc'] as const;
const POST_SUFFIXES = ['cvs', 'svn', 'git', 'hg', 'p'] as const;

interface Token {
  kind: Kind;
  /** The token's text without its separator (`.`, `_`, `~`, `-r`). */
  text: string;
  /** For suffixes: ordinal, negative for pre-release ones, release itself being 0. */
  suffix: number;
}

const isDigit = (c: number) => c >= 48 && c <= 57;
const isLower = (c: number) => c >= 97 && c <= 122;
const isHex = (c: number) => isDigit(c) || (c >= 97 && c <= 102);

class Tokenizer {
  private pos = 0;
  private prev: Kind = Kind.InitialDigit;
  private started = false;
  constructor(private readonly s: string) {}

  next(): Token {
    const s = this.s;
    if (this.prev === Kind.Invalid) return { kind: Kind.Invalid, text: '', suffix: 0 };
    if (this.pos >= s.length) {
      if (!this.started) return this.invalid();
      return { kind: Kind.End, text: '', suffix: 0 };
    }
    const c = s.charCodeAt(this.pos);
    let kind: Kind;
    let start: number;
    if (!this.started) {
      this.started = true;
      if (!isDigit(c)) return this.invalid();
      kind = Kind.InitialDigit;
      start = this.pos;
      while (this.pos < s.length && isDigit(s.charCodeAt(this.pos))) this.pos++;
      this.prev = kind;
      return { kind, text: s.slice(start, this.pos), suffix: 0 };
    }
    if (c === 46 /* . */) {
      kind = Kind.Digit;
      start = ++this.pos;
      while (this.pos < s.length && isDigit(s.charCodeAt(this.pos))) this.pos++;
      if (this.pos === start) return this.invalid();
    } else if (isLower(c) && (this.prev === Kind.InitialDigit || this.prev === Kind.Digit)) {
      kind = Kind.Letter;
      start = this.pos++;
    } else if (c === 95 /* _ */) {
      kind = Kind.Suffix;
      start = ++this.pos;
      while (this.pos < s.length && isLower(s.charCodeAt(this.pos))) this.pos++;
      const name = s.slice(start, this.pos);
      let ord = PRE_SUFFIXES.indexOf(name as (typeof PRE_SUFFIXES)[number]);
      let suffix: number;
      if (ord >= 0) suffix = ord - PRE_SUFFIXES.length;
      else {
        ord = POST_SUFFIXES.indexOf(name as (typeof POST_SUFFIXES)[number]);
        if (ord < 0) return this.invalid();
        suffix = ord + 1;
      }
      if (!this.allowed(kind)) return this.invalid();
      this.prev = kind;
      // A suffix number directly follows its suffix name.
      const numStart = this.pos;
      while (this.pos < s.length && isDigit(s.charCodeAt(this.pos))) this.pos++;
      if (this.pos > numStart) this.pendingNo = s.slice(numStart, this.pos);
      return { kind, text: name, suffix };
    } else if (c === 126 /* ~ */) {
      kind = Kind.CommitHash;
      start = ++this.pos;
      while (this.pos < s.length && isHex(s.charCodeAt(this.pos))) this.pos++;
      if (this.pos === start) return this.invalid();
    } else if (c === 45 /* - */ && s.charCodeAt(this.pos + 1) === 114 /* r */) {
      kind = Kind.RevisionNo;
      this.pos += 2;
      start = this.pos;
      while (this.pos < s.length && isDigit(s.charCodeAt(this.pos))) this.pos++;
      if (this.pos === start) return this.invalid();
    } else {
      return this.invalid();
    }
    if (!this.allowed(kind)) return this.invalid();
    this.prev = kind;
    return { kind, text: s.slice(start, this.pos), suffix: 0 };
  }

  /** A suffix number waiting to be returned as its own token. */
  private pendingNo: string | undefined;

  take(): Token {
    if (this.pendingNo !== undefined) {
      const text = this.pendingNo;
      this.pendingNo = undefined;
      this.prev = Kind.SuffixNo;
      return { kind: Kind.SuffixNo, text, suffix: 0 };
    }
    return this.next();
  }

  private allowed(kind: Kind): boolean {
    if (kind > this.prev) return true;
    if (kind === Kind.Digit && this.prev === Kind.Digit) return true;
    if (kind === Kind.Suffix && (this.prev === Kind.Suffix || this.prev === Kind.SuffixNo)) return true;
    return false;
  }

  private invalid(): Token {
    this.prev = Kind.Invalid;
    return { kind: Kind.Invalid, text: '', suffix: 0 };
  }
}

function cmpNum(a: string, b: string): number {
  const x = a.replace(/^0+(?=.)/, '');
  const y = b.replace(/^0+(?=.)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function cmpToken(a: Token, b: Token): number {
  switch (a.kind) {
    case Kind.Digit:
      if (a.text.startsWith('0') || b.text.startsWith('0')) return cmpStr(a.text, b.text);
      return cmpNum(a.text, b.text);
    case Kind.InitialDigit:
    case Kind.SuffixNo:
    case Kind.RevisionNo:
      return cmpNum(a.text, b.text);
    case Kind.Letter:
    case Kind.CommitHash:
      return cmpStr(a.text, b.text);
    case Kind.Suffix:
      return a.suffix - b.suffix;
    default:
      return 0;
  }
}

/** True when `v` is a valid apk version string. */
export function isValidVersion(v: string): boolean {
  const t = new Tokenizer(v);
  for (;;) {
    const k = t.take().kind;
    if (k === Kind.End) return true;
    if (k === Kind.Invalid) return false;
  }
}

/**
 * Compares two versions: -1, 0 or 1. With `fuzzy`, `b` is a constraint and a version that
 * starts with all of `b`'s components counts as equal (`3.6.9 ~ 3.6`).
 */
export function compareVersions(a: string, b: string, fuzzy = false): -1 | 0 | 1 {
  if (a === b) return 0;
  const ta = new Tokenizer(a);
  const tb = new Tokenizer(b);
  let x = ta.take();
  let y = tb.take();
  while (x.kind === y.kind && x.kind !== Kind.End && x.kind !== Kind.Invalid) {
    const c = cmpToken(x, y);
    if (c !== 0) return c < 0 ? -1 : 1;
    x = ta.take();
    y = tb.take();
  }
  if (x.kind === y.kind) return 0;
  if (fuzzy && y.kind === Kind.End) return 0;
  if (x.kind === Kind.Suffix && x.suffix < 0) return -1;
  if (y.kind === Kind.Suffix && y.suffix < 0) return 1;
  return x.kind > y.kind ? -1 : 1;
}

/** Comparison operators of a dependency: any subset of less/equal/greater, plus fuzzy and checksum. */
export type VersionOp = '<' | '<=' | '=' | '>=' | '>' | '~' | '<~' | '>~' | '><';

/** True when `version` satisfies `op constraint` (`~` is a prefix match on the constraint). */
export function versionMatches(version: string, op: VersionOp, constraint: string): boolean {
  switch (op) {
    case '=':
      return compareVersions(version, constraint) === 0;
    case '<':
      return compareVersions(version, constraint) < 0;
    case '<=':
      return compareVersions(version, constraint) <= 0;
    case '>':
      return compareVersions(version, constraint) > 0;
    case '>=':
      return compareVersions(version, constraint) >= 0;
    case '~':
      return compareVersions(version, constraint, true) === 0;
    case '<~':
      return compareVersions(version, constraint, true) < 0;
    case '>~':
      return compareVersions(version, constraint, true) > 0;
    case '><':
      // An identity match compares checksums, not versions; the caller handles it.
      return false;
  }
}
