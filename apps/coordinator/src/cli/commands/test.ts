import { testPackage } from '@melange2/engine';
import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import { type BuildFlags, perArch, reportFailure, sharedBuildOptions } from './build.js';

export function registerTest(program: Command): void {
  sharedBuildOptions(
    program
      .command('test')
      .description(
        "run a config's test: pipelines on BuildKit, in a fresh environment with the package built into --out-dir",
      ),
  ).action(async (config: string, flags: BuildFlags) => {
    const outcomes = await perArch(config, flags, (req) => testPackage(req));
    let failed = false;
    for (const o of outcomes) {
      if (o.error?.details.notForArch) {
        process.stdout.write(`${o.arch}: skipped: ${o.error.message}\n`);
        continue;
      }
      if (o.error) {
        failed = true;
        reportFailure(o.error);
        continue;
      }
      for (const t of o.result!.tests)
        process.stdout.write(`${o.arch}: test ${t.package} passed (${t.summary.total} steps)\n`);
    }
    if (failed) process.exitCode = EXIT.failed;
  });
}
