/**
 * What the package checks look at in one built .apk: its `.PKGINFO` and every data entry, with
 * the ELF facts (SONAME, DT_NEEDED, interpreter, section names) of each ELF file, read with the
 * engine's own ELF reader. File contents are streamed; only ELF images are held, one at a time.
 */
import { basename } from 'node:path';
import { type DataEntry, type PackageInfo, readApkData, readApkHead } from '@melange2/apk';
import { ElfError, type ElfInfo, elfSectionNames, parseElf } from '@melange2/engine/internal';

interface ElfFacts {
  readonly info: ElfInfo;
  readonly sections: readonly string[];
}

export interface PackageFile {
  readonly path: string;
  readonly type: DataEntry['type'];
  readonly mode: number;
  readonly size: number;
  /** Symlink target. */
  readonly link?: string;
  readonly elf?: ElfFacts;
  /** Why an ELF-looking file could not be read. */
  readonly elfError?: string;
}

export interface PackageContents {
  readonly file: string;
  readonly info: PackageInfo;
  readonly files: readonly PackageFile[];
  /** Size of the .apk on disk. */
  readonly apkSize: number;
}

/** ELF images above this are not read whole (none of the corpus comes close). */
const MAX_ELF_BYTES = 256 << 20;

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** The whole content when it starts with the ELF magic and fits `limit`; anything else is drained. */
async function elfBytes(content: AsyncIterable<Buffer>, limit: number): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let n = 0;
  let keep = true;
  for await (const c of content) {
    if (n === 0 && !c.subarray(0, 4).equals(ELF_MAGIC)) keep = false;
    n += c.length;
    if (n > limit) keep = false;
    if (keep) parts.push(c);
  }
  return keep && n > 0 ? Buffer.concat(parts) : undefined;
}

function elfFacts(bytes: Buffer, where: string): { elf: ElfFacts } | { elfError: string } {
  try {
    return { elf: { info: parseElf(bytes, where), sections: elfSectionNames(bytes, where) } };
  } catch (e) {
    if (e instanceof ElfError) return { elfError: e.message };
    throw e;
  }
}

/** Reads one .apk's metadata and entries. */
export async function readPackage(file: string): Promise<PackageContents> {
  const head = await readApkHead(file);
  const files: PackageFile[] = [];
  await readApkData(head, async (e, content) => {
    const base = { path: e.name, type: e.type, mode: e.mode, size: e.size };
    if (e.type === 'symlink') {
      files.push({ ...base, link: e.linkname });
      return;
    }
    if (e.type !== 'file' || e.size < 52) {
      for await (const _ of content);
      files.push(base);
      return;
    }
    const bytes = await elfBytes(content, MAX_ELF_BYTES);
    files.push(bytes ? { ...base, ...elfFacts(bytes, `${basename(file)}:${e.name}`) } : base);
  });
  return { file, info: head.info, files, apkSize: head.fileSize };
}
