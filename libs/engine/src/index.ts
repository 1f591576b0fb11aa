export { compileRe2, type GoRegExp, Re2SyntaxError, replaceAllGo, translateRe2 } from './config/re2.js';
export { referencedKeys, substitute, substituteStrict, UnknownVariableError } from './config/substitute.js';
export { applyVarTransforms, type VarTransform, VarTransformError } from './config/var-transforms.js';
