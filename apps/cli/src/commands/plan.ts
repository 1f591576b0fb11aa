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
import { addFlags, type FlagSet, readFlags, withDefault, withHelp } from '../flags/define.js';
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
  changedSince: withHelp(
    FLAGS.changedSince,
    'only configs whose file (or a repository pipeline they use) changed since this git ref',
  ),
  withDependents: FLAGS.withDependents,
  maxDepth: FLAGS.maxDepth,
  published: FLAGS.published,
  cyclePolicy: withHelp(
    FLAGS.cyclePolicy,
    'bootstrap or serial (default: bootstrap with --published, else serial)',
  ),
  format: withDefault(FLAGS.format, 'text', 'json or text'),
  ...GRAPH_FLAGS,
  ...SCAN_FLAGS,
} satisfies FlagSet;

export function registerPlan(program: Command): void {
  const cmd = program
    .command('plan')
    .description('decide what to build and in which waves, with the reason each config is in the plan')
    .argument('<repo>', 'directory holding the melange configs (and pipelines/)');
  addFlags(cmd, FLAG_SET).action(async (repo: string, _o: unknown, c: Command) => {
    const o = readFlags(c, FLAG_SET);
    const arches = o.arch;
    const format = parseFormat(o.format, ['json', 'text'] as const);
    const policy = o.cyclePolicy;
    const durations = readDurations(o.durations);
    const maxDepth = o.maxDepth;
    if (maxDepth !== undefined && !o.withDependents)
      throw new CliError('--max-depth only applies with --with-dependents', EXIT.usage);
    let published: ReturnType<typeof readPublishedIndex> | undefined;
    if (o.published && o.published.length > 0) {
      try {
        published = readPublishedIndex(o.published);
      } catch (e) {
        if (e instanceof PublishedIndexError)
          throw new CliError(`--published ${e.message}`, EXIT.usage, { cause: e });
        throw e;
      }
    }
    const scan = await scanForCli(repo, o);
    let files: Set<string> | undefined;
    if (o.changedSince !== undefined) {
      try {
        files = changedFiles(scan.root, o.changedSince);
      } catch (e) {
        if (e instanceof ChangeDetectionError) throw new CliError(e.message, EXIT.usage, { cause: e });
        throw e;
      }
    }
    const plans: Plan[] = [];
    for (const arch of arches) {
      const g = buildGraph(scan, {
        arch,
        pipelineNeeds: o.pipelineNeeds,
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
    // The plan is printed without the configs that do not parse; that is still a failure.
    if (scan.problems.length > 0) process.exitCode = EXIT.failed;
  });
}
