/**
 * APK v2 packages, signing, APKINDEX, apk version rules, resolution and root install: the names
 * other packages use. Tests reach the building blocks through `@melange2/apk/internal`.
 */
export { ApkError } from './errors.js';
export { DEFAULT_LIMITS, TAR_EXTENDED_HEADER_LIMIT } from './limits.js';
export { parseDependency } from './dependency.js';
export {
  generateKeyPair,
  Keyring,
  loadSigningKey,
  publicPemOf,
  signData,
  type SigningKey,
  signingKeyFromPem,
  writeKeyPair,
} from './keys.js';
export { packApk, SCRIPT_NAMES, type ScriptName } from './pack.js';
export { resignApk } from './resign.js';
export { type PackageInfo, packageInfo } from './pkginfo.js';
export { detectArchiveKind, readApkData, readApkHead, verifyApk } from './read.js';
export { compareVersions, type VersionOp, versionMatches } from './version.js';
export { type ApkIndex, type IndexEntry, parseIndexText } from './index-text.js';
export {
  indexEntryFromApk,
  readIndexArchive,
  readIndexFile,
  resignIndexArchive,
} from './index-archive.js';
export { IncrementalIndex } from './incremental-index.js';
export { addToIndexFile, buildIndexArchive, indexDigest, updateIndex } from './apkindex.js';
export { writeFileAtomic } from './fsutil.js';
export {
  type ResolvedPackage,
  ResolverIndex,
  type ResolverRepository,
  resolveWorld,
  UnsatisfiableError,
} from './resolve.js';
export { installPackages } from './install.js';
export type { CachedPackage, CacheEvent } from './package-cache.js';
export {
  fetchBytes,
  type LoadedRepository,
  loadRepository,
  parseRepositoryLine,
  type RepositorySpec,
  repoLocation,
} from './repository.js';
export { publishPackages } from './environment.js';
/** @public The types in the signatures above, for callers that name them. */
export type { ApkErrorCode } from './errors.js';
/** @public */
export type { ApkLimits } from './limits.js';
/** @public */
export type { Dependency } from './dependency.js';
/** @public */
export type { KeyPairPem } from './keys.js';
/** @public */
export type { PackOptions, PackResult } from './pack.js';
/** @public */
export type { ResignResult } from './resign.js';
/** @public */
export type { ApkHead, ApkVerification, DataEntry, VerifyOptions } from './read.js';
/** @public */
export type { IndexChange } from './apkindex.js';
/** @public */
export type { IndexArchive } from './index-archive.js';
/** @public */
export type { ResolveRequest } from './resolve.js';
/** @public */
export type { InstallOptions, InstallResult } from './install.js';
