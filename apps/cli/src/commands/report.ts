import { rename, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { findRun, reportHtml, TimelineError } from '@melange2/coordinator';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import { addFlags, type FlagSet, readFlags, withDefault, withHelp } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { openRunStore, RUN_RECORD_FLAGS } from './run-records.js';

const REPORT_FLAGS = {
  ...RUN_RECORD_FLAGS,
  output: withHelp(withDefault(FLAGS.output, 'report.html'), 'the HTML file to write'),
} satisfies FlagSet;

/** Writes `file` through a temp file and a rename. */
export async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

/** A run not found (or its records unreadable) is what the command found: exit 1 with the reason. */
export function runRecordError(e: unknown): never {
  if (e instanceof TimelineError) throw new CliError(e.message, EXIT.failed, { cause: e });
  throw e;
}

export function registerReport(program: Command): void {
  addFlags(
    program
      .command('report')
      .description("write a run's dashboard as one self-contained HTML file (works offline)")
      .argument('[run]', 'the run id (default the latest run)'),
    REPORT_FLAGS,
  ).action(async (runId: string | undefined, _o: unknown, cmd: Command) => {
    const flags = readFlags(cmd, REPORT_FLAGS);
    const { store, close } = await openRunStore(flags, 'melange2-orch report');
    try {
      const t = await findRun(store, runId).catch(runRecordError);
      const out = resolve(flags.output);
      await writeAtomically(out, await reportHtml(t));
      process.stderr.write(`wrote ${out} (run ${t.runId}, ${t.builds.length} builds)\n`);
    } finally {
      await close();
    }
  });
}
