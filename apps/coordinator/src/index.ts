export { buildProgram, main } from './cli/main.js';
export { CliError, EXIT, type ExitCode } from './cli/exit-codes.js';
