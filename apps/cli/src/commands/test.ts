import { testPackage } from '@melange2/engine';
import type { Command } from 'commander';
import { readFlags } from '../flags/define.js';
import { BUILD_FLAGS, perArch, reportOutcomes, sharedBuildOptions } from './build.js';

export function registerTest(program: Command): void {
  sharedBuildOptions(
    program
      .command('test')
      .description(
        "run a config's test: pipelines on BuildKit, in a fresh environment with the package built into --out-dir",
      ),
  ).action(async (config: string, _o: unknown, cmd: Command) => {
    const outcomes = await perArch(config, readFlags(cmd, BUILD_FLAGS), (req) => testPackage(req));
    reportOutcomes(outcomes, (arch, r) => {
      for (const t of r.tests)
        process.stdout.write(`${arch}: test ${t.package} passed (${t.summary.total} steps)\n`);
    });
  });
}
