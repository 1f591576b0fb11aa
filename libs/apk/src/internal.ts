/**
 * Building blocks that tests exercise directly but no other package uses: tar and gzip members,
 * the shared cache's publish steps, control segments. Not a stable surface.
 */
export { crc32Combine, formatIndexRecord } from './apkindex.js';
export { discard, moveAside, pruneCache, publishDir, publishFile, TRASH_DIR } from './cache.js';
export { satisfies } from './dependency.js';
export { buildEnvironment } from './environment.js';
export { gzipMember, readGzipMember } from './gzip.js';
export { cachePaths } from './install.js';
export { controlSegment, identityOf } from './pack.js';
export { EOF_BLOCKS, encodeEntry, parseTarSegment, type TarHeader } from './tar.js';
export { parsePkginfo, validatePackageInfo } from './pkginfo.js';
export { isValidVersion } from './version.js';
