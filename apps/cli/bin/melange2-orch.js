#!/usr/bin/env node
// The published entry point: the compiled CLI (npm run build makes dist/).
import { exitOnUnhandledRejection, main } from '../dist/index.js';

exitOnUnhandledRejection();
process.exitCode = await main(process.argv);
