import { join, resolve } from 'node:path';
import { FileRunStore, reportHtml } from '@melange2/coordinator';
import { runsDir } from '../embedded.js';
import { writeAtomically } from './report.js';

/** `<out-dir>/report.html` at the end of an embedded run; a failure to write it is only said. */
export async function writeRunReport(outDir: string, runId: string, say: (s: string) => void): Promise<void> {
  const file = join(resolve(outDir), 'report.html');
  try {
    const t = await new FileRunStore(runsDir(outDir)).get(runId);
    if (!t) return;
    await writeAtomically(file, await reportHtml(t));
    say(`report: ${file}`);
  } catch (e) {
    say(`warning: writing ${file} failed: ${(e as Error).message}`);
  }
}
