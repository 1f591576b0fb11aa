/**
 * Writes a minimal ELF64 little-endian shared object (PT_LOAD + PT_DYNAMIC with DT_SONAME,
 * DT_NEEDED, DT_STRTAB): enough for SCA, for any machine, without a cross toolchain.
 */
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

export function tinyElf(o: {
  machine: number;
  soname?: string;
  needed?: readonly string[];
  type?: 2 | 3;
  /** Section names: a section header table (null section first) and its `.shstrtab` are appended. */
  sections?: readonly string[];
}): Buffer {
  const strs: string[] = [];
  let strtab = Buffer.from([0]);
  const str = (s: string) => {
    const off = strtab.length;
    strtab = Buffer.concat([strtab, Buffer.from(`${s}\0`)]);
    strs.push(s);
    return off;
  };
  const dyn: [number, number][] = [];
  for (const n of o.needed ?? []) dyn.push([1, str(n)]);
  if (o.soname) dyn.push([14, str(o.soname)]);
  const ehsize = 64;
  const phentsize = 56;
  const phnum = 2;
  const dynOff = ehsize + phentsize * phnum;
  const dynSize = (dyn.length + 3) * 16;
  const strOff = dynOff + dynSize;
  dyn.push([5, strOff], [10, strtab.length], [0, 0]);
  const total = strOff + strtab.length;
  const b = Buffer.alloc(total);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  b.writeUInt16LE(o.type ?? 3, 16);
  b.writeUInt16LE(o.machine, 18);
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(0n, 24);
  b.writeBigUInt64LE(BigInt(ehsize), 32);
  b.writeUInt16LE(ehsize, 52);
  b.writeUInt16LE(phentsize, 54);
  b.writeUInt16LE(phnum, 56);
  const ph = (i: number, type: number, off: number, size: number, flags: number) => {
    const p = ehsize + i * phentsize;
    b.writeUInt32LE(type, p);
    b.writeUInt32LE(flags, p + 4);
    b.writeBigUInt64LE(BigInt(off), p + 8);
    b.writeBigUInt64LE(BigInt(off), p + 16);
    b.writeBigUInt64LE(BigInt(off), p + 24);
    b.writeBigUInt64LE(BigInt(size), p + 32);
    b.writeBigUInt64LE(BigInt(size), p + 40);
    b.writeBigUInt64LE(8n, p + 48);
  };
  ph(0, 1, 0, total, 5);
  ph(1, 2, dynOff, dynSize, 6);
  dyn.forEach(([tag, val], i) => {
    b.writeBigUInt64LE(BigInt(tag), dynOff + i * 16);
    b.writeBigUInt64LE(BigInt(val), dynOff + i * 16 + 8);
  });
  strtab.copy(b, strOff);
  return o.sections ? withSections(b, o.sections) : b;
}

/** Appends `.shstrtab` and a section header table (SHT_NULL, the names, `.shstrtab`) to an ELF64 image. */
function withSections(image: Buffer, names: readonly string[]): Buffer {
  const all = [...names, '.shstrtab'];
  let shstr = Buffer.from([0]);
  const offs = all.map((n) => {
    const off = shstr.length;
    shstr = Buffer.concat([shstr, Buffer.from(`${n}\0`)]);
    return off;
  });
  const strOff = image.length;
  const shoff = strOff + shstr.length;
  const table = Buffer.alloc((all.length + 1) * 64);
  all.forEach((_, i) => {
    const h = (i + 1) * 64;
    table.writeUInt32LE(offs[i]!, h);
    table.writeUInt32LE(i === all.length - 1 ? 3 : 1, h + 4);
    if (i === all.length - 1) {
      table.writeBigUInt64LE(BigInt(strOff), h + 24);
      table.writeBigUInt64LE(BigInt(shstr.length), h + 32);
    }
  });
  const out = Buffer.concat([image, shstr, table]);
  out.writeBigUInt64LE(BigInt(shoff), 40);
  out.writeUInt16LE(64, 58);
  out.writeUInt16LE(all.length + 1, 60);
  out.writeUInt16LE(all.length, 62);
  return out;
}
