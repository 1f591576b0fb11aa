export * from './dependency.js';
export * from './errors.js';
export * from './keys.js';
export * from './pack.js';
export * from './pkginfo.js';
export * from './read.js';
export * from './version.js';
