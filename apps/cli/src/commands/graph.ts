import { analyze, buildGraph, graphDot, graphJson, graphText } from '@melange2/depgraph';
import type { Command } from 'commander';
import {
  cacheDirOf,
  parseArchList,
  parseFormat,
  parsePolicy,
  readDurations,
  type ScanCliOptions,
  scanForCli,
} from './depgraph-shared.js';

interface GraphCliOptions extends ScanCliOptions {
  arch: string;
  pipelineNeeds?: boolean;
  format: string;
  cyclePolicy: string;
  durations?: string;
  resources?: boolean;
}

export function registerGraph(program: Command): void {
  program
    .command('graph')
    .description('read a repository of melange configs and print its build-time dependency graph')
    .argument('<repo>', 'directory holding the melange configs (and pipelines/)')
    .option('--arch <arch>', 'architecture (x86_64 or aarch64)', 'x86_64')
    .option('--pipeline-needs', 'also count the needs.packages of every uses: pipeline as build deps')
    .option('--format <format>', 'json, dot or text', 'text')
    .option(
      '--cycle-policy <policy>',
      'bootstrap (cycle members in parallel) or serial (break edges in name order)',
      'bootstrap',
    )
    .option('--durations <file>', 'JSON of config → seconds, for the costliest path')
    .option('--resources', 'estimate costs from package.resources.cpu for the costliest path')
    .option('--no-cache', 'parse every config again (do not use .melange2/cache)')
    .option('--cache-dir <dir>', 'parse cache directory', '.melange2/cache')
    .option('--workers <n>', 'parse worker threads (default: 0 on ≤ 2 cores, else cores − 1, at most 4)')
    .action(async (repo: string, o: GraphCliOptions) => {
      const [arch] = parseArchList(o.arch);
      const format = parseFormat(o.format, ['json', 'dot', 'text'] as const);
      const policy = parsePolicy(o.cyclePolicy) ?? 'bootstrap';
      const durations = readDurations(o.durations);
      const scan = await scanForCli(repo, o);
      const g = buildGraph(scan, {
        arch: arch!,
        pipelineNeeds: o.pipelineNeeds ?? false,
        cacheDir: cacheDirOf(o),
      });
      const { report, schedule } = analyze(g, policy, {
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
    });
}
