/**
 * What the CLI's tests exercise directly: the program's parts (exit codes, flags, display,
 * telemetry). Not a stable surface.
 */
export { CliError, EXIT, exitCodeOf } from './exit-codes.js';
export { progressLines, summaryTable } from './display.js';
export { parseArches } from './flags/arch.js';
export { flagsMarkdown, resetDeprecationWarnings } from './flags/define.js';
export { buildProgram } from './main.js';
/** @public test/out-dir-lock-race.test.ts imports it in the processes it races. */
export { lockOutDir } from './out-dir-lock.js';
export { startTelemetry, tracingConfigured } from './telemetry/index.js';
