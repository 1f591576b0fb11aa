/**
 * What to build and in which waves: the selection (changed configs, configs not yet published, or
 * everything), optionally with their reverse-dependency closure, ordered by a cycle policy.
 */
import { reverseClosure } from './analysis.js';
import {
  adjacency,
  type CostOptions,
  type CycleReport,
  costWeights,
  cycleReports,
  edgeDeps,
  formatCycle,
  reverseAdjacency,
} from './build.js';
import type { ChangedConfig } from './changes.js';
import type { BuildGraph } from './graph.js';
import { fullVersionOf, targetsArch } from './model.js';
import type { PublishedIndex } from './published.js';
import { type CyclePolicy, schedule } from './schedule.js';
import type { Arch } from './types.js';
import type { GraphConfig } from '@melange2/melange';

export interface PlanOptions {
  /** Default: `bootstrap` when a published index is given, else `serial`. */
  policy?: CyclePolicy;
  /** The changed configs (from `changedConfigs`); undefined selects every config. */
  changed?: readonly ChangedConfig[];
  /** Configs whose `name-version-rEPOCH` is published for the arch are up to date. */
  published?: PublishedIndex;
  /** Add everything that depends on the selection (rebuild against the new packages). */
  withDependents?: boolean;
  /** Bound for the dependents closure: 1 = direct dependents only. */
  maxDepth?: number;
  cost?: CostOptions;
}

export interface PlannedBuild {
  name: string;
  file: string;
  /** `version-rEPOCH`. */
  version: string;
  wave: number;
  /** Why it is in the plan: `changed`, `pipeline changed: x`, `dependency changed: busybox`, `not published`, `full build`. */
  reasons: string[];
  resources: { cpu?: number; memoryGi?: number };
  /** Planned builds this one waits for, after the cycle policy (an earlier wave, always). */
  deps: string[];
}

export interface Plan {
  arch: Arch;
  policy: CyclePolicy;
  total: number;
  waves: PlannedBuild[][];
  /** Selected configs skipped because the published index already has their version. */
  upToDate: string[];
  /** Cycles among the planned builds (shortest cycle each). */
  cycles: CycleReport[];
  /** `serial`: edges dropped to break those cycles (the dependency comes from the published repo). */
  droppedEdges: { from: string; to: string; deps: string[]; cycle: string }[];
  criticalPath: string[];
  weightedCriticalPath?: { path: string[]; cost: number };
}

/** Which configs to build and why, before dependents are added; published ones are up to date. */
function select(
  g: BuildGraph,
  opts: PlanOptions,
): { selected: Uint8Array; reasons: string[][]; upToDate: string[] } {
  const n = g.nodes.length;
  const reasons: string[][] = Array.from({ length: n }, () => []);
  const selected = new Uint8Array(n);
  const upToDate: string[] = [];
  const isPublished = (i: number) => {
    const node = g.nodes[i]!;
    return opts.published?.has(node.name, node.fullVersion, g.arch) ?? false;
  };
  if (opts.changed) {
    for (const c of opts.changed) {
      const i = g.index.get(c.name);
      if (i === undefined) continue;
      if (isPublished(i)) {
        upToDate.push(c.name);
        continue;
      }
      selected[i] = 1;
      reasons[i]!.push(c.reason);
    }
    return { selected, reasons, upToDate };
  }
  for (let i = 0; i < n; i++) {
    if (opts.published) {
      if (isPublished(i)) {
        upToDate.push(g.nodes[i]!.name);
        continue;
      }
      reasons[i]!.push('not published');
    } else reasons[i]!.push('full build');
    selected[i] = 1;
  }
  return { selected, reasons, upToDate };
}

export function planBuilds(g: BuildGraph, opts: PlanOptions = {}): Plan {
  const n = g.nodes.length;
  const policy = opts.policy ?? (opts.published ? 'bootstrap' : 'serial');
  const { selected, reasons, upToDate } = select(g, opts);
  if (opts.withDependents) {
    const seeds: number[] = [];
    for (let i = 0; i < n; i++) if (selected[i]) seeds.push(i);
    for (const hit of reverseClosure(reverseAdjacency(g), seeds, opts.maxDepth ?? Infinity)) {
      selected[hit.node] = 1;
      reasons[hit.node]!.push(`dependency changed: ${g.nodes[hit.via]!.name}`);
    }
  }

  const names = g.nodes.map((x) => x.name);
  const weights = opts.cost ? costWeights(g.nodes, opts.cost) : undefined;
  const adj = adjacency(g);
  const s = schedule(n, adj, selected, { policy, names, ...(weights ? { weights } : {}) });
  // Edges the policy kept are exactly those to a planned build in an earlier wave.
  const depsOf = (i: number): string[] => {
    const out = new Set<string>();
    for (let e = adj.start[i]!; e < adj.start[i + 1]!; e++) {
      const j = adj.targets[e]!;
      if (selected[j] && s.level[j]! >= 0 && s.level[j]! < s.level[i]!) out.add(names[j]!);
    }
    return [...out].sort();
  };
  const waves = s.waves.map((w) =>
    w.map((i): PlannedBuild => {
      const node = g.nodes[i]!;
      return {
        name: node.name,
        file: node.file,
        version: node.fullVersion,
        wave: s.level[i]!,
        reasons: reasons[i]!,
        resources: node.resources,
        deps: depsOf(i),
      };
    }),
  );
  const plan: Plan = {
    arch: g.arch,
    policy,
    total: waves.reduce((k, w) => k + w.length, 0),
    waves,
    upToDate: upToDate.sort(),
    cycles: cycleReports(g, s),
    droppedEdges: s.dropped.map((d) => ({
      from: names[d.from]!,
      to: names[d.to]!,
      deps: edgeDeps(g, d.from, d.to),
      cycle: formatCycle(g, [d.from, ...d.cycle.slice(0, -1)]),
    })),
    criticalPath: s.criticalPath.map((i) => names[i]!),
  };
  if (s.weighted)
    plan.weightedCriticalPath = { path: s.weighted.path.map((i) => names[i]!), cost: s.weighted.cost };
  return plan;
}

/**
 * The up-to-date check without a model or graph: per config built for `arch`, whether
 * `published` has its version. When nothing is left to build, a plan over everything selects
 * nothing and needs no graph at all (a no-op run); else only the left configs' dependencies need
 * resolving (`buildGraph`'s `resolveOnly`). `upToDate` is sorted by name, as {@link Plan.upToDate}.
 */
export function publishedState(
  configs: readonly GraphConfig[],
  arch: Arch,
  published: PublishedIndex,
): { upToDate: { name: string; fullVersion: string }[]; unpublished: Set<string> } {
  const upToDate: { name: string; fullVersion: string }[] = [];
  const unpublished = new Set<string>();
  for (const c of configs) {
    if (!targetsArch(c, arch)) continue;
    const fullVersion = fullVersionOf(c);
    if (published.has(c.name, fullVersion, arch)) upToDate.push({ name: c.name, fullVersion });
    else unpublished.add(c.name);
  }
  upToDate.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { upToDate, unpublished };
}
