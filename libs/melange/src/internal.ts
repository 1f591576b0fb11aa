/**
 * Building blocks that tests exercise directly but no other package uses: Go regexp emulation and
 * var-transforms (a config's problems reach users as ConfigError). Not a stable surface.
 */
export { compileRe2, Re2SyntaxError, replaceAllGo } from './regexp.js';
export { applyVarTransforms, VarTransformError } from './var-transforms.js';
export { isApkVersion } from './version.js';
