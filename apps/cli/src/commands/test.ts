import { testPackage } from '@melange2/engine';
import type { Command } from 'commander';
import { readFlags } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import { BUILD_FLAGS, perArch, reportOutcomes, sharedBuildOptions } from './build.js';

const TEST_FLAGS = { testPackageAppend: FLAGS.testPackageAppend };

export function registerTest(program: Command): void {
  sharedBuildOptions(
    program
      .command('test')
      .description(
        "run a config's test: pipelines on BuildKit, in a fresh environment with the package built into --out-dir",
      ),
    TEST_FLAGS,
  ).action(async (config: string, _o: unknown, cmd: Command) => {
    const flags = readFlags(cmd, { ...BUILD_FLAGS, ...TEST_FLAGS });
    const append = flags.testPackageAppend ?? [];
    const outcomes = await perArch(config, flags, (req) =>
      testPackage(append.length ? { ...req, testPackageAppend: append } : req),
    );
    reportOutcomes(outcomes, (arch, r) => {
      for (const t of r.tests)
        process.stdout.write(`${arch}: test ${t.package} passed (${t.summary.total} steps)\n`);
    });
  });
}
