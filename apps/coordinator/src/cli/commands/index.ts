import type { Command } from 'commander';
import { registerDaemons } from './daemons.js';
import { registerKeygen } from './keygen.js';
import { registerPack } from './pack.js';

/** Every top-level command of `melange2-orch`, in the order `--help` lists them. */
export const commands: ReadonlyArray<(program: Command) => void> = [registerDaemons, registerKeygen, registerPack];
