export { CliError, EXIT, type ExitCode } from './exit-codes.js';
export { buildProgram, main } from './main.js';
