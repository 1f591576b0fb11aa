import { resolve } from 'node:path';
import { chromeTrace, findRun } from '@melange2/coordinator';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { addFlags, type FlagSet, readFlags, withDefault, withHelp } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { runRecordError, writeAtomically } from './report.js';
import { openRunStore, RUN_RECORD_FLAGS } from './run-records.js';

const TRACE_FLAGS = {
  ...RUN_RECORD_FLAGS,
  format: withHelp(withDefault(FLAGS.format, 'chrome'), 'trace format: chrome (Trace Event JSON)'),
  output: withHelp(FLAGS.output, 'the file to write (default stdout)'),
} satisfies FlagSet;

export function registerTrace(program: Command): void {
  addFlags(
    program
      .command('trace')
      .description(
        'write a run as Chrome Trace Event JSON: a process per arch, a thread per agent slot, a slice per build (Perfetto, chrome://tracing, speedscope)',
      )
      .argument('[run]', 'the run id (default the latest run)'),
    TRACE_FLAGS,
  ).action(async (runId: string | undefined, _o: unknown, cmd: Command) => {
    const flags = readFlags(cmd, TRACE_FLAGS);
    if (flags.format !== 'chrome')
      throw new CliError(`--format: expected chrome, got "${flags.format}"`, EXIT.usage);
    const { store, close } = await openRunStore(flags, 'melange2-orch trace');
    try {
      const t = await findRun(store, runId).catch(runRecordError);
      const json = `${JSON.stringify(chromeTrace(t))}\n`;
      if (flags.output === undefined || flags.output === '-') process.stdout.write(json);
      else {
        const out = resolve(flags.output);
        await writeAtomically(out, json);
        process.stderr.write(`wrote ${out} (run ${t.runId})\n`);
      }
    } finally {
      await close();
    }
  });
}
