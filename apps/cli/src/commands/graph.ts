import { analyze, buildGraph, graphDot, graphJson, graphText } from '@melange2/depgraph';
import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import { oneArch } from '../flags/arch.js';
import { addFlags, type FlagSet, readFlags, withDefault } from '../flags/define.js';
import { FLAGS } from '../flags/table.js';
import {
  cacheDirOf,
  GRAPH_FLAGS,
  parseFormat,
  readDurations,
  SCAN_FLAGS,
  scanForCli,
} from './depgraph-shared.js';

const FLAG_SET = {
  arch: withDefault(FLAGS.arch, ['x86_64']),
  format: withDefault(FLAGS.format, 'text', 'json, dot or text'),
  cyclePolicy: withDefault(FLAGS.cyclePolicy, 'bootstrap'),
  ...GRAPH_FLAGS,
  ...SCAN_FLAGS,
} satisfies FlagSet;

export function registerGraph(program: Command): void {
  const cmd = program
    .command('graph')
    .description('read a repository of melange configs and print its build-time dependency graph')
    .argument('<repo>', 'directory holding the melange configs (and pipelines/)');
  addFlags(cmd, FLAG_SET).action(async (repo: string, _o: unknown, c: Command) => {
    const o = readFlags(c, FLAG_SET);
    const arch = oneArch(o.arch, 'graph');
    const format = parseFormat(o.format, ['json', 'dot', 'text'] as const);
    const durations = readDurations(o.durations);
    const scan = await scanForCli(repo, o);
    const g = buildGraph(scan, { arch, pipelineNeeds: o.pipelineNeeds, cacheDir: cacheDirOf(o) });
    const { report, schedule } = analyze(g, o.cyclePolicy, {
      ...(durations ? { durations } : {}),
      ...(o.resources ? { useResources: true } : {}),
    });
    if (format === 'json') {
      process.stdout.write(
        `${JSON.stringify(graphJson(g, report, schedule.level, scan.problems), null, 2)}\n`,
      );
    } else if (format === 'dot') {
      process.stdout.write(graphDot(g, report));
    } else {
      process.stdout.write(graphText(report, [...scan.problems, ...g.problems]));
    }
    // The listing is printed without the configs that do not parse; that is still a failure.
    if (scan.problems.length > 0 || g.problems.length > 0) process.exitCode = EXIT.failed;
  });
}
