/**
 * Size limits on what packages and indexes may inflate to. Each is checked while inflating or
 * streaming, before the bytes are held, so a small hostile file (a gzip bomb) fails fast with a
 * named error and flat memory instead of taking the process to gigabytes (README "Limits").
 */
import { ApkError } from './errors.js';

export interface ApkLimits {
  /** Inflated signature member (tar segment of `.SIGN.*` entries). */
  readonly signature: number;
  /** Inflated control member (tar segment of `.PKGINFO` and scripts). */
  readonly control: number;
  /** The `.PKGINFO` entry inside the control member. */
  readonly pkginfo: number;
  /** Inflated index member (DESCRIPTION + APKINDEX tar), and a fetched index's compressed size. */
  readonly index: number;
}

/**
 * One PAX extended header or GNU long name/link in a data member. tar-stream 3 (which reads data
 * members) refuses a larger one before buffering it (its MAX_HEADER_SIZE); we name that error.
 * PATH_MAX is 4 KiB and an xattr value at most 64 KiB, so no real package comes near it.
 */
export const TAR_EXTENDED_HEADER_LIMIT = 4 * 1024 * 1024;

const KiB = 1024;
const MiB = 1024 * KiB;

export const DEFAULT_LIMITS: ApkLimits = Object.freeze({
  // apk-tools ignores a signature entry over 65536 bytes (extract_v2.c); a member holds one entry
  // (1 KiB for RSA-4096) per key, so 64 KiB also leaves room for dozens of keys.
  signature: 64 * KiB,
  // Scripts and .PKGINFO of real packages are kilobytes; the largest Wolfi .PKGINFO (thousands of
  // so:/cmd: provides) is well under 1 MiB.
  control: 4 * MiB,
  pkginfo: 1 * MiB,
  // The 200,000-entry synthetic index of `npm run bench -- apk-index-parse` (Wolfi holds ~186,000
  // versions) inflates to 70 MB: 256 MiB is 3.6× that, and what an index bomb can cost at most.
  index: 256 * MiB,
});

/** The defaults with a caller's overrides. */
export function limitsWith(over: Partial<ApkLimits> | undefined): ApkLimits {
  return over ? { ...DEFAULT_LIMITS, ...over } : DEFAULT_LIMITS;
}

export type LimitName = keyof ApkLimits | 'tarHeader';

const CODE = {
  signature: 'limit-signature',
  control: 'limit-control',
  pkginfo: 'limit-pkginfo',
  index: 'limit-index',
  tarHeader: 'limit-tar-header',
} as const satisfies Record<LimitName, string>;

/** Formats a byte count the way the limits table does (64 KiB, 4 MiB). */
function formatBytes(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} bytes`;
}

/** The named error for `what` (file, member or entry) being over the `limit` limit. */
export function limitError(
  limit: LimitName,
  max: number,
  what: string,
  context: { file?: string; pkg?: string; entry?: string } = {},
  cause?: unknown,
): ApkError {
  return new ApkError(
    CODE[limit],
    `${what}: over the ${formatBytes(max)} limit on ${LABEL[limit]} (${CODE[limit]})`,
    context,
    cause === undefined ? undefined : { cause },
  );
}

const LABEL: Record<LimitName, string> = {
  signature: 'an inflated signature member',
  control: 'an inflated control member',
  pkginfo: '.PKGINFO',
  index: 'an index (inflated, or compressed as fetched)',
  tarHeader: 'a tar extended header',
};
