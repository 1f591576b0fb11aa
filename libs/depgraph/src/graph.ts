/**
 * Dependency resolution (provider choice as apk makes it) and the resulting graph, stored as
 * compressed adjacency arrays: node i's dependencies are `outTargets[outStart[i] .. outStart[i+1])`.
 */
import { compareVersions, versionMatches } from '@melange2/apk';
import type { ConfigNode, DepRef, ModelProblem } from './model.js';
import type { Arch } from './types.js';

/** Why a dependency gives no edge: it is satisfied outside this repository. */
type ExternalReason =
  /** Only the config itself provides it: the build uses the published previous version. */
  | 'self'
  /** In-repo providers exist but none meets the version constraint. */
  | 'constraint'
  /** No config provides the name. */
  | 'unresolved';

interface ExternalDep {
  config: string;
  dep: DepRef;
  reason: ExternalReason;
}

interface Edge {
  /** Index of the config that needs… */
  from: number;
  /** …the config that provides it. */
  to: number;
  /** The dependency names that chose this provider, in the order first seen. */
  deps: string[];
}

export interface BuildGraph {
  arch: Arch;
  nodes: ConfigNode[];
  index: Map<string, number>;
  edges: Edge[];
  outStart: Int32Array;
  outTargets: Int32Array;
  /** Edge index (into `edges`) parallel to `outTargets`. */
  outEdge: Int32Array;
  inStart: Int32Array;
  inSources: Int32Array;
  external: ExternalDep[];
  /** Names no config provides → configs that need them. */
  unresolved: Map<string, string[]>;
  excluded: string[];
  problems: ModelProblem[];
  unknownPipelines: Map<string, string[]>;
}

interface Candidate {
  node: number;
  /** The package of that config offering the name. */
  pkg: string;
  real: boolean;
  priority: number;
  version: string | undefined;
}

/** apk's preference: a real package over a virtual provide, then priority, then version, then name. */
function better(a: Candidate, b: Candidate, nodes: readonly ConfigNode[]): boolean {
  if (a.real !== b.real) return a.real;
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.version !== b.version) {
    if (a.version === undefined) return false;
    if (b.version === undefined) return true;
    const c = compareVersions(a.version, b.version);
    if (c !== 0) return c > 0;
  }
  return nodes[a.node]!.name < nodes[b.node]!.name;
}

type Resolution = { kind: 'edge'; to: number; pkg: string } | { kind: 'external'; reason: ExternalReason };

class ProviderIndex {
  /** Candidates per name, best first: resolution takes the first acceptable one. */
  private readonly byName = new Map<string, Candidate[]>();
  constructor(nodes: readonly ConfigNode[]) {
    nodes.forEach((n, i) => {
      for (const p of n.provides) {
        const c: Candidate = { node: i, pkg: p.pkg, real: p.real, priority: p.priority, version: p.version };
        const l = this.byName.get(p.name);
        if (!l) this.byName.set(p.name, [c]);
        // A config offering the same name twice (package and provide) counts once, as its best offer.
        else {
          const same = l.findIndex((x) => x.node === i);
          if (same < 0) l.push(c);
          else if (better(c, l[same]!, nodes)) l[same] = c;
        }
      }
    });
    for (const l of this.byName.values()) {
      if (l.length > 1) l.sort((a, b) => (better(a, b, nodes) ? -1 : better(b, a, nodes) ? 1 : 0));
    }
  }

  providers(name: string): readonly Candidate[] {
    return this.byName.get(name) ?? [];
  }

  resolve(from: number, dep: DepRef): Resolution {
    const all = this.byName.get(dep.name);
    if (!all) return { kind: 'external', reason: 'unresolved' };
    let sawOther = false;
    for (const c of all) {
      if (c.node === from) continue;
      sawOther = true;
      if (dep.op !== undefined) {
        // An unversioned virtual provide cannot satisfy a versioned dependency (apk).
        if (c.version === undefined || !versionMatches(c.version, dep.op, dep.version!)) continue;
      }
      return { kind: 'edge', to: c.node, pkg: c.pkg };
    }
    return { kind: 'external', reason: sawOther ? 'constraint' : 'self' };
  }
}

function csr(n: number, pairs: readonly Edge[], key: 'from' | 'to') {
  const start = new Int32Array(n + 1);
  for (const e of pairs) start[e[key] + 1]!++;
  for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
  const fill = start.slice(0, n);
  const other = new Int32Array(pairs.length);
  const edgeIdx = new Int32Array(pairs.length);
  pairs.forEach((e, k) => {
    const at = fill[e[key]]!++;
    other[at] = key === 'from' ? e.to : e.from;
    edgeIdx[at] = k;
  });
  return { start, other, edgeIdx };
}

/** Packages visited per build when following runtime dependencies (a bound for hostile repositories). */
const MAX_CLOSURE = 100_000;

/**
 * The runtime closure of a build's dependencies: the environment installs each in-repo package
 * its build needs together with that package's `dependencies.runtime`, and theirs, so the build
 * must also wait for the configs that provide those (bc needs flex, flex's package needs m4:
 * bc waits for m4). Each is linked as `<runtime dep> (via <package>)`. A runtime dependency the
 * building config provides is its own (no edge); one nothing in the repository provides is left
 * to the other repositories, as for build dependencies.
 *
 * Packages are numbered once and each one's runtime dependencies resolved once (independently of
 * the build that installs it), so a build's closure is a walk over integers.
 */
class RuntimeClosure {
  readonly #ids = new Map<string, number>();
  readonly #node: number[] = [];
  readonly #pkg: string[] = [];
  readonly #deps: ({ to: number; dep: string }[] | undefined)[] = [];
  #seen = new Int32Array(0);
  #stamp = 0;

  constructor(
    private readonly nodes: readonly ConfigNode[],
    private readonly providers: ProviderIndex,
  ) {
    nodes.forEach((n, i) => {
      for (const p of n.provides) this.id(i, p.pkg);
    });
  }

  id(node: number, pkg: string): number {
    const k = `${node}\0${pkg}`;
    let id = this.#ids.get(k);
    if (id === undefined) {
      id = this.#node.length;
      this.#ids.set(k, id);
      this.#node.push(node);
      this.#pkg.push(pkg);
      this.#deps.push(undefined);
    }
    return id;
  }

  #runtime(id: number): { to: number; dep: string }[] {
    let d = this.#deps[id];
    if (d === undefined) {
      d = [];
      for (const r of this.nodes[this.#node[id]!]!.runtime[this.#pkg[id]!] ?? []) {
        const res = this.providers.resolve(-1, r);
        if (res.kind === 'edge') d.push({ to: this.id(res.to, res.pkg), dep: r.name });
      }
      this.#deps[id] = d;
    }
    return d;
  }

  /**
   * Calls `reach` for every config (other than `from`) its installed packages' runtime closure
   * reaches, with the dependency that got there first (its label made only when asked for).
   */
  walk(from: number, installed: readonly number[], reach: (to: number, label: () => string) => void): void {
    if (this.#seen.length < this.#node.length) this.#seen = new Int32Array(this.#node.length * 2);
    const stamp = ++this.#stamp;
    const queue: number[] = [];
    for (const id of installed) {
      if (this.#seen[id] === stamp) continue;
      this.#seen[id] = stamp;
      queue.push(id);
    }
    for (let i = 0; i < queue.length && queue.length < MAX_CLOSURE; i++) {
      const at = queue[i]!;
      for (const { to, dep } of this.#runtime(at)) {
        if (to >= this.#seen.length) {
          const grown = new Int32Array(this.#node.length * 2);
          grown.set(this.#seen);
          this.#seen = grown;
        }
        if (this.#seen[to] === stamp) continue;
        this.#seen[to] = stamp;
        const node = this.#node[to]!;
        // What the building config provides itself comes from the published repository.
        if (node === from) continue;
        queue.push(to);
        const via = this.#pkg[at]!;
        if (node !== this.#node[at]) reach(node, () => `${dep} (via ${via})`);
      }
    }
  }
}

/**
 * `only`: resolve the dependencies of these config names alone (the others get no edges, no
 * external or unresolved entries): enough for a plan whose selection is known beforehand and
 * that adds no dependents, since waves, cycles and deps only follow edges between selected builds.
 */
export function resolveGraph(
  arch: Arch,
  nodes: ConfigNode[],
  extra: Pick<BuildGraph, 'excluded' | 'problems' | 'unknownPipelines'>,
  only?: ReadonlySet<string>,
): BuildGraph {
  const index = new Map<string, number>();
  nodes.forEach((n, i) => {
    index.set(n.name, i);
  });
  const providers = new ProviderIndex(nodes);
  const closure = new RuntimeClosure(nodes, providers);
  const edges: Edge[] = [];
  const external: ExternalDep[] = [];
  const unresolved = new Map<string, string[]>();
  nodes.forEach((n, from) => {
    if (only && !only.has(n.name)) return;
    const mine = new Map<number, Edge>();
    const link = (to: number, dep: string) => {
      const e = mine.get(to);
      if (e) {
        if (!e.deps.includes(dep)) e.deps.push(dep);
      } else {
        const ne: Edge = { from, to, deps: [dep] };
        mine.set(to, ne);
        edges.push(ne);
      }
    };
    const installed: number[] = [];
    for (const d of n.deps) {
      const r = providers.resolve(from, d);
      if (r.kind === 'edge') {
        link(r.to, d.name);
        installed.push(closure.id(r.to, r.pkg));
      } else {
        external.push({ config: n.name, dep: d, reason: r.reason });
        if (r.reason === 'unresolved') {
          const l = unresolved.get(d.name);
          if (!l) unresolved.set(d.name, [n.name]);
          else if (l[l.length - 1] !== n.name) l.push(n.name);
        }
      }
    }
    // A config already linked (directly, or through another runtime dependency) keeps its label.
    closure.walk(from, installed, (to, label) => {
      if (!mine.has(to)) link(to, label());
    });
  });
  const out = csr(nodes.length, edges, 'from');
  const inn = csr(nodes.length, edges, 'to');
  return {
    arch,
    nodes,
    index,
    edges,
    outStart: out.start,
    outTargets: out.other,
    outEdge: out.edgeIdx,
    inStart: inn.start,
    inSources: inn.other,
    external,
    unresolved,
    ...extra,
  };
}
