/**
 * Building blocks that tests exercise directly but no other package uses: step scripts and LLB
 * names, account files, ELF and SCA parsing, package metadata; the build's plan and packaging
 * stages on their own (the engine-build bench). Not a stable surface.
 */
export { DEFAULT_PATH } from './compile/plan.js';
export { ENVIRONMENT_LOCAL, MELANGE_CACHE_ID } from './llb/graph.js';
export { shellQuote, stepScript } from './llb/script.js';
export { failedStepIndex, groupScript, groupSteps } from './llb/groups.js';
export { accountFiles, environmentLayers } from './environment/layers.js';
export { ElfError, elfSectionNames, type ElfInfo, parseElf } from './sca/elf.js';
export { analyzePackage, parsePcFile, shebangCommand, sonameVersion } from './sca/sca.js';
export { PackageError, packageMetadata, packageOutputs } from './package/package.js';
export { planBuild } from './build/build.js';
export { resolveEnvironment } from './environment/resolve.js';
export { checksumNames, mirrorPath, namedEntries } from './build/build-cache.js';
