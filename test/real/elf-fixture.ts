/**
 * A synthetic x86_64 ELF64 object for the check tests: an optional interpreter (PT_INTERP), a
 * dynamic section (SONAME, NEEDED, STRTAB) and a section header table with the given names.
 * Offsets equal addresses, so one PT_LOAD maps the whole file.
 */
export function syntheticElf(o: {
  type: 'exec' | 'dyn';
  soname?: string;
  needed?: readonly string[];
  interpreter?: string;
  sections?: readonly string[];
}): Buffer {
  const blobs: Buffer[] = [];
  let at = 64 + 56 * 3;
  const place = (b: Buffer) => {
    const off = at;
    blobs.push(b);
    at += b.length;
    return off;
  };
  const strings: string[] = ['', ...(o.needed ?? []), ...(o.soname ? [o.soname] : [])];
  const strtab = Buffer.from(strings.map((s) => `${s}\0`).join(''));
  const strOff = (s: string) => strtab.indexOf(Buffer.from(`\0${s}\0`)) + 1;
  const strtabAt = place(strtab);
  const interpAt = o.interpreter ? place(Buffer.from(`${o.interpreter}\0`)) : 0;
  const dynEntries: [number, number][] = [
    ...(o.needed ?? []).map((n): [number, number] => [1, strOff(n)]),
    ...(o.soname ? [[14, strOff(o.soname)] as [number, number]] : []),
    [5, strtabAt],
    [0, 0],
  ];
  const dyn = Buffer.alloc(dynEntries.length * 16);
  dynEntries.forEach(([tag, val], i) => {
    dyn.writeBigUInt64LE(BigInt(tag), i * 16);
    dyn.writeBigUInt64LE(BigInt(val), i * 16 + 8);
  });
  const dynAt = place(dyn);
  const names = [...(o.sections ?? []), '.shstrtab'];
  const shstr = Buffer.from(`\0${names.map((n) => `${n}\0`).join('')}`);
  const shstrAt = place(shstr);
  const shoff = at;
  const sh = Buffer.alloc((names.length + 1) * 64);
  let nameOff = 1;
  names.forEach((n, i) => {
    sh.writeUInt32LE(nameOff, (i + 1) * 64);
    nameOff += n.length + 1;
  });
  const last = names.length * 64;
  sh.writeBigUInt64LE(BigInt(shstrAt), last + 24);
  sh.writeBigUInt64LE(BigInt(shstr.length), last + 32);
  blobs.push(sh);
  const total = shoff + sh.length;

  const head = Buffer.alloc(64 + 56 * 3);
  head.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  head.writeUInt16LE(o.type === 'exec' ? 2 : 3, 16);
  head.writeUInt16LE(62, 18);
  head.writeUInt32LE(1, 20);
  head.writeBigUInt64LE(64n, 32);
  head.writeBigUInt64LE(BigInt(shoff), 40);
  head.writeUInt16LE(64, 52);
  head.writeUInt16LE(56, 54);
  head.writeUInt16LE(3, 56);
  head.writeUInt16LE(64, 58);
  head.writeUInt16LE(names.length + 1, 60);
  head.writeUInt16LE(names.length, 62);
  const ph = (i: number, type: number, off: number, size: number) => {
    const p = 64 + i * 56;
    head.writeUInt32LE(type, p);
    head.writeBigUInt64LE(BigInt(off), p + 8);
    head.writeBigUInt64LE(BigInt(off), p + 16);
    head.writeBigUInt64LE(BigInt(size), p + 32);
  };
  ph(0, 1, 0, total);
  ph(1, 2, dynAt, dyn.length);
  // PT_NULL when there is no interpreter.
  ph(2, o.interpreter ? 3 : 0, interpAt, o.interpreter ? o.interpreter.length + 1 : 0);
  return Buffer.concat([head, ...blobs]);
}
