import { readIndexArchive } from '@melange2/apk';
import {
  type Arch,
  buildGraph,
  ChangeDetectionError,
  changedConfigs,
  changedFiles,
  formatProblem,
  type PlannedBuild,
  PublishedIndex,
  planBuilds,
  publishedState,
  type RepoKeys,
  type RepoScan,
  ScanError,
  scanKeys,
  scanRepository,
} from '@melange2/depgraph';
import type { ScheduledBuild } from '../scheduler/index.js';
import { memoFile, memoKey, readPlanMemo, writePlanMemo } from './plan-memo.js';

/** A build of the run: the scheduler's view plus what the agent and the records need. */
export interface RunBuild extends ScheduledBuild {
  readonly version: string;
  /** Relative to the repository root. */
  readonly configFile: string;
  /** Content key of the config (and its repository pipelines): what a cached failure is keyed by. */
  readonly input: string;
  /** The package and subpackage names the config makes on this arch: what its report may stage. */
  readonly packages: readonly string[];
  /** Virtual names its packages declare (`provides:`), when any. */
  readonly provides?: readonly string[];
  /** Names its environment asks for (environment packages, pipeline `needs`), when any. */
  readonly needs?: readonly string[];
  /**
   * Which cycle of its arch it is in (an index into that arch's cycles), when it is in one: its
   * fellow members are built against what is published, never waited for.
   */
  readonly cycle?: number;
}

export interface RunPlan {
  readonly root: string;
  readonly builds: RunBuild[];
  /** `name@arch` → version, already published. */
  readonly upToDate: { readonly id: string; readonly version: string }[];
  /** Configs that do not parse or model, formatted for the user. */
  readonly problems: string[];
  readonly cycles: string[];
  /**
   * Builds left out with the reason: they need a package whose config does not parse (named as
   * its file, the repository convention), or a build left out for that reason.
   */
  readonly excluded: ReadonlyMap<string, string>;
  /**
   * Per arch: the `dependencies.runtime` names of each name a config of the repository provides
   * (only names with some): how far an environment's install reaches through the repository's
   * own packages (see run/awaiting.ts).
   */
  readonly runtime?: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
}

export class PlanError extends Error {
  override readonly name = 'PlanError';
}

export interface PlanRunOptions {
  readonly repo: string;
  readonly arches: readonly Arch[];
  /** The published index per arch (`APKINDEX.tar.gz` bytes), for up-to-date checks and the cycle policy. */
  readonly published: ReadonlyMap<string, Buffer | undefined>;
  readonly changedSince?: string;
  readonly withDependents?: boolean;
  /** Recorded durations by `name@arch` (ms). */
  readonly durations?: ReadonlyMap<string, number>;
  readonly cacheDir?: string | false;
  /** Parse worker threads (default: the scanner's choice). */
  readonly workers?: number;
}

/** Scans the repository and plans every arch; with a cache directory, an unchanged plan is read back. */
export async function planRun(o: PlanRunOptions): Promise<RunPlan> {
  // `--changed-since` depends on git's state too: no memo for it.
  if (!o.cacheDir || o.changedSince !== undefined) return planScan(o, await scanFor(o));
  const cacheDir = o.cacheDir;
  const keyOf = (k: RepoKeys) =>
    memoKey({
      root: k.root,
      arches: o.arches,
      withDependents: o.withDependents ?? false,
      published: o.published,
      durations: o.durations,
      fileKeys: k.fileKeys,
      problems: k.problems.map((p) => formatProblem(p)),
    });
  // The files' keys from the parse cache's stat index alone first: an unchanged repository's plan
  // is read back without loading the parsed configs.
  const keys = scanKeys(o.repo, cacheDir);
  const quick = keys && keyOf(keys);
  const memo = keys && quick !== undefined ? readPlanMemo(memoFile(cacheDir, keys.root), quick) : undefined;
  if (memo) return memo;
  const scan = await scanFor(o);
  const key = keyOf(scan);
  if (key === undefined) return planScan(o, scan);
  const file = memoFile(cacheDir, scan.root);
  // Read again only when the scan found other keys than the stat index gave.
  const again = key !== quick ? readPlanMemo(file, key) : undefined;
  if (again) return again;
  const plan = planScan(o, scan);
  writePlanMemo(file, key, plan);
  return plan;
}

async function scanFor(o: PlanRunOptions): Promise<RepoScan> {
  try {
    return await scanRepository(o.repo, {
      cacheDir: o.cacheDir ?? false,
      ...(o.workers !== undefined ? { workers: o.workers } : {}),
    });
  } catch (e) {
    if (e instanceof ScanError) throw new PlanError(e.message, { cause: e });
    throw e;
  }
}

/** Without a recorded duration: 1 min per declared cpu, else 1 min. */
function estimateCost(b: Pick<PlannedBuild, 'resources'>): number {
  return 60_000 * Math.max(1, b.resources.cpu ?? 1);
}

function publishedIndexOf(indexes: ReadonlyMap<string, Buffer | undefined>): PublishedIndex {
  const p = new PublishedIndex();
  for (const [arch, bytes] of indexes) {
    if (!bytes) continue;
    for (const e of readIndexArchive(bytes, `${arch}/APKINDEX.tar.gz`).index.entries)
      p.add(e.name, e.version, e.arch);
  }
  return p;
}

/** Plans every arch of a scan: what to build, what is up to date, and why. */
function planScan(o: PlanRunOptions, scan: RepoScan): RunPlan {
  let files: Set<string> | undefined;
  if (o.changedSince !== undefined) {
    try {
      files = changedFiles(scan.root, o.changedSince);
    } catch (e) {
      if (e instanceof ChangeDetectionError) throw new PlanError(e.message, { cause: e });
      throw e;
    }
  }
  const published = publishedIndexOf(o.published);
  const builds: RunBuild[] = [];
  const upToDate: RunPlan['upToDate'] = [];
  const problems = scan.problems.map((p) => formatProblem(p));
  const cycles: string[] = [];
  const excluded = new Map<string, string>();
  const broken = new Map<string, string>();
  const runtime: Record<string, Record<string, string[]>> = {};
  for (const p of scan.problems) {
    const m = /^([^/]+)\.yaml$/.exec(p.file);
    if (m) broken.set(m[1]!, p.file);
  }
  for (const arch of o.arches) {
    // Selected by the published index alone (no --changed-since): known before any graph. With
    // nothing to build there is no graph to make; else only what is built needs its dependencies
    // resolved, unless dependents are added.
    const state = files ? undefined : publishedState(scan.configs, arch, published);
    if (state && state.unpublished.size === 0) {
      for (const c of state.upToDate) upToDate.push({ id: `${c.name}@${arch}`, version: c.fullVersion });
      continue;
    }
    const g = buildGraph(scan, {
      arch,
      cacheDir: o.cacheDir ?? false,
      ...(state && !o.withDependents ? { resolveOnly: state.unpublished } : {}),
    });
    runtime[arch] = runtimeNames(g.nodes);
    const changed = files ? changedConfigs(g.nodes, files) : undefined;
    const plan = planBuilds(g, {
      policy: 'bootstrap',
      published,
      ...(changed ? { changed } : {}),
      ...(o.withDependents ? { withDependents: true } : {}),
    });
    const cycleOf = new Map<string, number>();
    plan.cycles.forEach((c, k) => {
      cycles.push(`${arch}: ${c.shortest} (built against the published packages)`);
      for (const m of c.members) cycleOf.set(m, k);
    });
    for (const name of plan.upToDate) {
      const node = g.nodes[g.index.get(name)!]!;
      upToDate.push({ id: `${name}@${arch}`, version: node.fullVersion });
    }
    const needsBroken = new Map<string, string>();
    for (const x of g.external) {
      const file = x.reason === 'unresolved' ? broken.get(x.dep.name) : undefined;
      if (file && !needsBroken.has(x.config))
        needsBroken.set(x.config, `needs ${x.dep.name}, whose config ${file} does not parse`);
    }
    // Each id is one string that every dependency on it shares: the scheduler then hashes each once.
    const ids = new Map<string, string>();
    for (const wave of plan.waves) {
      for (const b of wave) {
        const id = `${b.name}@${arch}`;
        ids.set(b.name, id);
        const node = g.nodes[g.index.get(b.name)!];
        // Waves put dependencies first, so an excluded dependency is known by now.
        const why =
          needsBroken.get(b.name) ??
          b.deps.map((d) => (excluded.has(`${d}@${arch}`) ? `dependency left out: ${d}` : '')).find(Boolean);
        if (why) excluded.set(id, why);
        builds.push({
          id,
          name: b.name,
          arch,
          deps: b.deps.map((d) => ids.get(d) ?? `${d}@${arch}`),
          cost: o.durations?.get(id) ?? estimateCost(b),
          reasons: b.reasons,
          version: b.version,
          configFile: b.file,
          input: `${scan.fileKeys.get(b.file) ?? ''}:${b.version}`,
          packages: node ? node.provides.filter((p) => p.real).map((p) => p.name) : [b.name],
          ...namesOf(node),
          ...(cycleOf.has(b.name) ? { cycle: cycleOf.get(b.name)! } : {}),
        });
      }
    }
  }
  return { root: scan.root, builds, upToDate, problems, cycles, excluded, runtime };
}

type GraphNode = ReturnType<typeof buildGraph>['nodes'][number];

/** A build's virtual provides and the names its environment asks for (omitted when none). */
function namesOf(node: GraphNode | undefined): Pick<RunBuild, 'provides' | 'needs'> {
  if (!node) return {};
  const provides = [...new Set(node.provides.filter((p) => !p.real).map((p) => p.name))];
  const needs = [...new Set(node.deps.map((d) => d.name))];
  return { ...(provides.length ? { provides } : {}), ...(needs.length ? { needs } : {}) };
}

/** Each provided name's runtime dependency names, for the names that have some. */
function runtimeNames(nodes: readonly GraphNode[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const n of nodes)
    for (const p of n.provides) {
      const deps = n.runtime[p.pkg];
      if (deps?.length) out[p.name] = [...new Set([...(out[p.name] ?? []), ...deps.map((d) => d.name)])];
    }
  return out;
}
