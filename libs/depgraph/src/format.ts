/** Renderings of the graph report and the plan: JSON (for machines), DOT (Graphviz), text (people). */
import type { BuildGraph } from './graph.js';
import type { GraphReport } from './build.js';
import type { Plan } from './plan.js';
import type { ScanProblem } from './types.js';
import type { ModelProblem } from './model.js';

export interface GraphJson extends GraphReport {
  excluded: string[];
  external: { config: string; dep: string; reason: string }[];
  problems: (ScanProblem | ModelProblem)[];
  nodeList: { name: string; file: string; version: string; level: number; provides: string[] }[];
  edgeList: { from: string; to: string; deps: string[] }[];
}

export function graphJson(
  g: BuildGraph,
  r: GraphReport,
  level: Int32Array,
  scanProblems: readonly ScanProblem[],
): GraphJson {
  return {
    ...r,
    excluded: g.excluded,
    external: g.external.map((e) => ({ config: e.config, dep: e.dep.text, reason: e.reason })),
    problems: [...scanProblems, ...g.problems],
    nodeList: g.nodes.map((n, i) => ({
      name: n.name,
      file: n.file,
      version: n.fullVersion,
      level: level[i]!,
      provides: [...new Set(n.provides.map((p) => p.name))],
    })),
    edgeList: g.edges.map((e) => ({ from: g.nodes[e.from]!.name, to: g.nodes[e.to]!.name, deps: e.deps })),
  };
}

const q = (s: string) => JSON.stringify(s);

/** Graphviz: edges point from a config to what it needs; cycle members are filled. */
export function graphDot(g: BuildGraph, r: GraphReport): string {
  const inCycle = new Set(r.sccs.flat());
  const lines = [
    `digraph ${q(`melange2 build graph ${g.arch}`)} {`,
    '  rankdir=LR;',
    '  node [shape=box, fontsize=10];',
  ];
  for (const n of g.nodes) {
    lines.push(`  ${q(n.name)}${inCycle.has(n.name) ? ' [style=filled, fillcolor="#f4cccc"]' : ''};`);
  }
  for (const e of g.edges) {
    lines.push(`  ${q(g.nodes[e.from]!.name)} -> ${q(g.nodes[e.to]!.name)} [label=${q(e.deps.join(', '))}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

function list(names: readonly string[], max = 12): string {
  return names.length <= max
    ? names.join(', ')
    : `${names.slice(0, max).join(', ')}, … (${names.length - max} more)`;
}

export function graphText(r: GraphReport, problems: readonly (ScanProblem | ModelProblem)[]): string {
  const out: string[] = [];
  out.push(`build graph for ${r.arch} (cycle policy ${r.policy})`);
  out.push(`  configs: ${r.nodes}   edges: ${r.edges}   levels: ${r.levels}   widest level: ${r.maxWidth}`);
  out.push(`  level widths: ${r.widths.join(' ')}`);
  out.push(`  critical path (${r.criticalPath.length}): ${r.criticalPath.join(' → ')}`);
  if (r.weightedCriticalPath) {
    out.push(
      `  costliest path (cost ${r.weightedCriticalPath.cost}): ${r.weightedCriticalPath.path.join(' → ')}`,
    );
  }
  out.push(
    `  unresolved (${r.unresolved.length}, must come from external repositories): ${list(r.unresolved, 40)}`,
  );
  const x = r.externalByReason;
  out.push(
    `  resolved outside the repository: ${x['self'] ?? 0} self-dependencies, ${x['constraint'] ?? 0} unmet constraints, ${x['unresolved'] ?? 0} unresolved`,
  );
  out.push(`  cycles: ${r.cycles.length === 0 ? 'none' : r.cycles.map((c) => c.size).join(', ')}`);
  for (const c of r.cycles) {
    out.push(`    ${c.size} configs, e.g. ${c.shortest}`);
    out.push(`      members: ${list(c.members)}`);
  }
  if (r.droppedEdges) {
    out.push(`  edges dropped to break cycles (serial): ${r.droppedEdges.length}`);
    for (const d of r.droppedEdges.slice(0, 20)) out.push(`    ${d.cycle}`);
    if (r.droppedEdges.length > 20) out.push(`    … (${r.droppedEdges.length - 20} more)`);
  }
  if (problems.length > 0) {
    out.push(`  problems: ${problems.length}`);
    for (const p of problems.slice(0, 20)) out.push(`    ${formatProblem(p)}`);
  }
  return `${out.join('\n')}\n`;
}

export function formatProblem(p: ScanProblem | ModelProblem): string {
  if ('arch' in p) return `${p.file}: ${p.package} (${p.arch}): ${p.message}`;
  return `${p.file}${p.line !== undefined ? `:${p.line}` : ''}: ${p.message}`;
}

export function planText(p: Plan): string {
  const out: string[] = [];
  out.push(
    `plan for ${p.arch}: ${p.total} build${p.total === 1 ? '' : 's'} in ${p.waves.length} wave${p.waves.length === 1 ? '' : 's'} (cycle policy ${p.policy})`,
  );
  if (p.upToDate.length > 0) out.push(`  already published (skipped): ${p.upToDate.length}`);
  p.waves.forEach((w, i) => {
    out.push(`wave ${i + 1} (${w.length}):`);
    for (const b of w) out.push(`  ${b.name}-${b.version}  (${b.reasons.join('; ')})`);
  });
  for (const c of p.cycles) out.push(`cycle of ${c.size} among the planned builds, e.g. ${c.shortest}`);
  if (p.droppedEdges.length > 0) {
    out.push(
      `edges dropped to break cycles (those deps come from the published repo): ${p.droppedEdges.length}`,
    );
    for (const d of p.droppedEdges.slice(0, 20)) out.push(`  ${d.cycle}`);
  }
  return `${out.join('\n')}\n`;
}
