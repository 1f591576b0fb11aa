// What bin/melange2-orch.js runs: the program, and the process-wide rejection handler.
export { exitOnUnhandledRejection, main } from './main.js';
