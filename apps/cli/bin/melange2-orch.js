#!/usr/bin/env node
// The published entry point: the compiled CLI (npm run build makes dist/).
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv);
