/**
 * Just enough ELF to do melange's shared-object analysis: class, byte order, type, machine, the
 * interpreter, and the dynamic section's SONAME and NEEDED entries.
 */

export interface ElfInfo {
  readonly class: 32 | 64;
  readonly endian: 'little' | 'big';
  /** e_type: 1 REL, 2 EXEC, 3 DYN, 4 CORE. */
  readonly type: number;
  readonly machine: number;
  /** PT_INTERP, e.g. `/lib/ld-musl-x86_64.so.1`. */
  readonly interpreter?: string;
  readonly soname?: string;
  readonly needed: readonly string[];
  /** Whether it has a dynamic section at all (static executables do not). */
  readonly dynamic: boolean;
}

/** A file that is not a well-formed ELF image (SCA skips it with a warning). */
export class ElfError extends Error {
  override readonly name = 'ElfError';
  readonly code = 'ELF_INVALID';
  constructor(
    /** The file, as the caller named it. */
    readonly file: string,
    message: string,
  ) {
    super(message);
  }
}

const MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_SONAME = 14;

export function isElf(buf: Uint8Array): boolean {
  return buf.length >= 4 && MAGIC.every((b, i) => buf[i] === b);
}

/** Bounds-checked readers over an ELF image in its byte order; throws {@link ElfError} naming `where`. */
function elfReader(input: Uint8Array, where: string) {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (!isElf(buf)) throw new ElfError(where, `${where}: not an ELF file`);
  if (buf.length < 52) throw new ElfError(where, `${where}: truncated ELF header`);
  const cls = buf[4] === 2 ? 64 : buf[4] === 1 ? 32 : undefined;
  const le = buf[5] === 1 ? true : buf[5] === 2 ? false : undefined;
  if (cls === undefined || le === undefined)
    throw new ElfError(where, `${where}: bad ELF class or data encoding`);
  const need = (off: number, n: number, what: string) => {
    if (off < 0 || off + n > buf.length) throw new ElfError(where, `${where}: ${what} lies outside the file`);
  };
  const u16 = (o: number) => {
    need(o, 2, 'header');
    return le ? buf.readUInt16LE(o) : buf.readUInt16BE(o);
  };
  const u32 = (o: number) => {
    need(o, 4, 'header');
    return le ? buf.readUInt32LE(o) : buf.readUInt32BE(o);
  };
  const u64 = (o: number) => {
    need(o, 8, 'header');
    const v = le ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(where, `${where}: offset ${v} too large`);
    return Number(v);
  };
  return { buf, cls, le, need, u16, u32, u64 } as const;
}

/** Parses an ELF image; `where` names it in errors. Throws {@link ElfError} on truncated or bogus headers. */
export function parseElf(input: Uint8Array, where: string): ElfInfo {
  const { buf, cls, le, need, u16, u32, u64 } = elfReader(input, where);
  const word = cls === 64 ? u64 : u32;
  const type = u16(16);
  const machine = u16(18);
  const phoff = cls === 64 ? u64(32) : u32(28);
  const phentsize = u16(cls === 64 ? 54 : 42);
  const phnum = u16(cls === 64 ? 56 : 44);

  interface Phdr {
    type: number;
    offset: number;
    vaddr: number;
    filesz: number;
  }
  const phdrs: Phdr[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    need(o, phentsize, `program header ${i}`);
    phdrs.push(
      cls === 64
        ? { type: u32(o), offset: u64(o + 8), vaddr: u64(o + 16), filesz: u64(o + 32) }
        : { type: u32(o), offset: u32(o + 4), vaddr: u32(o + 8), filesz: u32(o + 16) },
    );
  }
  const cstr = (off: number, what: string) => {
    need(off, 1, what);
    const end = buf.indexOf(0, off);
    if (end < 0) throw new ElfError(where, `${where}: unterminated ${what}`);
    return buf.toString('utf8', off, end);
  };
  const interp = phdrs.find((p) => p.type === PT_INTERP);
  const interpreter = interp ? cstr(interp.offset, 'interpreter') : undefined;
  const dyn = phdrs.find((p) => p.type === PT_DYNAMIC);
  const base = { class: cls, endian: le ? 'little' : 'big', type, machine } as const;
  const withInterp = interpreter !== undefined ? { interpreter } : {};
  if (!dyn) return { ...base, ...withInterp, needed: [], dynamic: false };

  const entSize = cls === 64 ? 16 : 8;
  const needed: number[] = [];
  let soname: number | undefined;
  let strtabAddr: number | undefined;
  for (let o = dyn.offset; o + entSize <= dyn.offset + dyn.filesz; o += entSize) {
    const tag = word(o);
    const val = word(o + entSize / 2);
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) needed.push(val);
    else if (tag === DT_SONAME) soname = val;
    else if (tag === DT_STRTAB) strtabAddr = val;
  }
  if (strtabAddr === undefined) {
    if (needed.length || soname !== undefined)
      throw new ElfError(where, `${where}: dynamic section without DT_STRTAB`);
    return { ...base, ...withInterp, needed: [], dynamic: true };
  }
  // DT_STRTAB is a virtual address: map it to a file offset through the PT_LOAD that holds it.
  const addr = strtabAddr;
  const load = phdrs.find((p) => p.type === PT_LOAD && addr >= p.vaddr && addr < p.vaddr + p.filesz);
  const strtab = load ? addr - load.vaddr + load.offset : addr;
  return {
    ...base,
    ...withInterp,
    ...(soname !== undefined ? { soname: cstr(strtab + soname, 'SONAME') } : {}),
    needed: needed.map((n) => cstr(strtab + n, 'NEEDED name')),
    dynamic: true,
  };
}

/** Section headers read at most (real objects have a few dozen). */
const MAX_SECTIONS = 4096;

/**
 * The section names of an ELF image (`.text`, `.debug_info`, …), from its section header table and
 * `e_shstrndx`: what tells a stripped object from one with debug info. An image without section
 * headers has none. Throws {@link ElfError} on a header table or name table outside the file.
 */
export function elfSectionNames(input: Uint8Array, where: string): string[] {
  const { buf, cls, need, u16, u32, u64 } = elfReader(input, where);
  const is64 = cls === 64;
  const shoff = is64 ? u64(40) : u32(32);
  const shentsize = u16(is64 ? 58 : 46);
  const shnum = u16(is64 ? 60 : 48);
  const shstrndx = u16(is64 ? 62 : 50);
  if (shoff === 0 || shnum === 0) return [];
  if (shnum > MAX_SECTIONS)
    throw new ElfError(where, `${where}: ${shnum} sections (at most ${MAX_SECTIONS})`);
  if (shstrndx >= shnum)
    throw new ElfError(where, `${where}: section name table index ${shstrndx} out of range`);
  const header = (i: number) => {
    const o = shoff + i * shentsize;
    need(o, shentsize, `section header ${i}`);
    return { name: u32(o), offset: is64 ? u64(o + 24) : u32(o + 16), size: is64 ? u64(o + 32) : u32(o + 20) };
  };
  const names = header(shstrndx);
  need(names.offset, names.size, 'section name table');
  const out: string[] = [];
  for (let i = 0; i < shnum; i++) {
    const off = names.offset + header(i).name;
    const end = buf.indexOf(0, off);
    if (off >= names.offset + names.size || end < 0 || end > names.offset + names.size)
      throw new ElfError(where, `${where}: section ${i} name lies outside the name table`);
    out.push(buf.toString('latin1', off, end));
  }
  return out;
}
