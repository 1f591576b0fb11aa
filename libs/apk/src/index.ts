/**
 * APK v2 packages, signing, APKINDEX, apk version rules, resolution and root install: the names
 * other packages use. Tests reach the building blocks through `@melange2/apk/internal`.
 */
export { ApkError, type ApkErrorCode } from './errors.js';
export { type Dependency, parseDependency } from './dependency.js';
export {
  generateKeyPair,
  type KeyPairPem,
  Keyring,
  loadSigningKey,
  publicPemOf,
  signData,
  type SigningKey,
  signingKeyFromPem,
  writeKeyPair,
} from './keys.js';
export { type PackOptions, type PackResult, packApk, SCRIPT_NAMES, type ScriptName } from './pack.js';
export { type PackageInfo, packageInfo } from './pkginfo.js';
export {
  type ApkHead,
  type ApkVerification,
  type DataEntry,
  readApkData,
  readApkHead,
  type VerifyOptions,
  verifyApk,
} from './read.js';
export { compareVersions, type VersionOp, versionMatches } from './version.js';
export {
  addToIndexFile,
  type ApkIndex,
  buildIndexArchive,
  detectArchiveKind,
  IncrementalIndex,
  type IndexArchive,
  type IndexChange,
  type IndexEntry,
  indexDigest,
  indexEntryFromApk,
  parseIndexText,
  readIndexArchive,
  readIndexFile,
  resignIndexArchive,
  updateIndex,
} from './apkindex.js';
export { writeFileAtomic } from './fsutil.js';
export {
  type ResolvedPackage,
  type ResolveRequest,
  ResolverIndex,
  type ResolverRepository,
  resolveWorld,
  UnsatisfiableError,
} from './resolve.js';
export {
  type CachedPackage,
  type CacheEvent,
  type InstallOptions,
  type InstallResult,
  installPackages,
} from './install.js';
export {
  fetchBytes,
  type LoadedRepository,
  loadRepository,
  parseRepositoryLine,
  type RepositorySpec,
  repoLocation,
} from './repository.js';
export { publishPackages } from './environment.js';
