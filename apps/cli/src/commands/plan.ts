import {
  buildGraph,
  ChangeDetectionError,
  type ChangedConfig,
  changedConfigs,
  changedFiles,
  type Plan,
  PublishedIndexError,
  planBuilds,
  planText,
  readPublishedIndex,
} from '@melange2/depgraph';
import type { Command } from 'commander';
import { CliError, EXIT } from '../exit-codes.js';
import {
  cacheDirOf,
  parseArchList,
  parseFormat,
  parsePolicy,
  readDurations,
  type ScanCliOptions,
  scanForCli,
} from './depgraph-shared.js';

interface PlanCliOptions extends ScanCliOptions {
  arch: string;
  changedSince?: string;
  withDependents?: boolean;
  maxDepth?: string;
  published?: string[];
  cyclePolicy?: string;
  pipelineNeeds?: boolean;
  format: string;
  durations?: string;
  resources?: boolean;
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('decide what to build and in which waves, with the reason each config is in the plan')
    .argument('<repo>', 'directory holding the melange configs (and pipelines/)')
    .option('--arch <list>', 'architectures, comma-separated', 'x86_64')
    .option(
      '--changed-since <ref>',
      'only configs whose file (or a repository pipeline they use) changed since this git ref',
    )
    .option('--with-dependents', 'add every config that depends on the selection')
    .option('--max-depth <n>', 'with --with-dependents: how many dependency steps to follow')
    .option('--published <APKINDEX...>', 'published indexes: configs whose version is there are up to date')
    .option(
      '--cycle-policy <policy>',
      'bootstrap or serial (default: bootstrap with --published, else serial)',
    )
    .option('--pipeline-needs', 'also count the needs.packages of every uses: pipeline as build deps')
    .option('--format <format>', 'json or text', 'text')
    .option('--durations <file>', 'JSON of config → seconds, for the costliest path')
    .option('--resources', 'estimate costs from package.resources.cpu for the costliest path')
    .option('--no-cache', 'parse every config again (do not use .melange2/cache)')
    .option('--cache-dir <dir>', 'parse cache directory', '.melange2/cache')
    .option('--workers <n>', 'parse worker threads (default: 0 on ≤ 2 cores, else cores − 1, at most 4)')
    .action(async (repo: string, o: PlanCliOptions) => {
      const arches = parseArchList(o.arch);
      const format = parseFormat(o.format, ['json', 'text'] as const);
      const policy = parsePolicy(o.cyclePolicy);
      const durations = readDurations(o.durations);
      let maxDepth: number | undefined;
      if (o.maxDepth !== undefined) {
        maxDepth = Number(o.maxDepth);
        if (!Number.isInteger(maxDepth) || maxDepth < 1)
          throw new CliError('--max-depth: expected a whole number ≥ 1', EXIT.usage);
        if (!o.withDependents)
          throw new CliError('--max-depth only applies with --with-dependents', EXIT.usage);
      }
      let published: ReturnType<typeof readPublishedIndex> | undefined;
      if (o.published && o.published.length > 0) {
        try {
          published = readPublishedIndex(o.published);
        } catch (e) {
          if (e instanceof PublishedIndexError) throw new CliError(`--published ${e.message}`, EXIT.usage);
          throw e;
        }
      }
      const scan = await scanForCli(repo, o);
      let files: Set<string> | undefined;
      if (o.changedSince !== undefined) {
        try {
          files = changedFiles(scan.root, o.changedSince);
        } catch (e) {
          if (e instanceof ChangeDetectionError) throw new CliError(e.message, EXIT.usage);
          throw e;
        }
      }
      const plans: Plan[] = [];
      for (const arch of arches) {
        const g = buildGraph(scan, {
          arch,
          pipelineNeeds: o.pipelineNeeds ?? false,
          cacheDir: cacheDirOf(o),
        });
        const changed: ChangedConfig[] | undefined = files ? changedConfigs(g.nodes, files) : undefined;
        plans.push(
          planBuilds(g, {
            ...(policy ? { policy } : {}),
            ...(changed ? { changed } : {}),
            ...(published ? { published } : {}),
            ...(o.withDependents ? { withDependents: true } : {}),
            ...(maxDepth !== undefined ? { maxDepth } : {}),
            ...(durations || o.resources
              ? { cost: { ...(durations ? { durations } : {}), useResources: o.resources ?? false } }
              : {}),
          }),
        );
      }
      if (format === 'json') process.stdout.write(`${JSON.stringify({ plans }, null, 2)}\n`);
      else for (const p of plans) process.stdout.write(planText(p));
    });
}
