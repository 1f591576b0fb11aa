import { createReadStream, createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { withAtomicFile } from './fsutil.js';
import type { ApkLimits } from './limits.js';
import { type SigningKeys, signatureMember } from './pack.js';
import type { PackageInfo } from './pkginfo.js';
import { verifyApk } from './read.js';

export interface ResignResult {
  readonly path: string;
  readonly info: PackageInfo;
  /** `Q1…` identity: unchanged, since the control member is kept byte for byte. */
  readonly checksum: string;
}

/**
 * Writes `input` to `output` (atomically) with its signature member replaced by one signed with
 * `keys` over the unchanged control member; whatever signatures it had are dropped, and an
 * unsigned package gets one. The package is checked first (members within the limits, `.PKGINFO`
 * parsed, the data member's sha256 equal to its `datahash`), so nothing malformed is ever signed.
 * The signature's tar mtime is the package's `builddate` (0 without), so re-signing the same
 * package with the same key gives the same bytes.
 */
export async function resignApk(
  input: string,
  output: string,
  keys: SigningKeys,
  opts: { limits?: Partial<ApkLimits> } = {},
): Promise<ResignResult> {
  const { head } = await verifyApk(input, opts.limits ? { limits: opts.limits } : {});
  const sig = signatureMember(keys, head.controlMember, head.info.builddate ?? 0);
  await withAtomicFile(output, async (tmp) => {
    await writeFile(tmp, Buffer.concat([sig, head.controlMember]));
    if (head.dataOffset < head.fileSize)
      await pipeline(
        createReadStream(input, { start: head.dataOffset }),
        createWriteStream(tmp, { flags: 'a' }),
      );
  });
  return { path: output, info: head.info, checksum: head.checksum };
}
