/**
 * The per-arch package model: a node per config with what it provides and what its build needs,
 * every name substituted as melange does (vars → var-transforms → range expansion).
 */
import { parseDependency, type VersionOp } from '@melange2/apk';
import { applyVarTransforms, substitute } from '@melange2/engine';
import { evalCondition } from './condition.js';
import type { Arch, RawConfig, RawDeps, RawPipeline, RawUses } from './types.js';

export interface ProvideEntry {
  name: string;
  /** Version offered: `version-rEPOCH` for real names, the `=ver` part for provides, none if unversioned. */
  version?: string;
  /** A package or subpackage name (not a virtual `provides`). */
  real: boolean;
  priority: number;
}

export interface DepRef {
  /** As written after substitution (`foo>=1.2`). */
  text: string;
  name: string;
  op?: VersionOp;
  version?: string;
  /** Where it came from: the environment, or the `needs` of a pipeline. */
  via: 'environment' | `pipeline:${string}`;
}

export interface ConfigNode {
  name: string;
  file: string;
  version: string;
  epoch: string;
  /** `version-rEPOCH`, what apk and APKINDEX call the version. */
  fullVersion: string;
  provides: ProvideEntry[];
  deps: DepRef[];
  resources: { cpu?: number; memoryGi?: number };
  updateShared: boolean;
  /** Repository pipelines the config uses (nested uses included), for change detection. */
  repoPipelines: string[];
}

export interface ModelProblem {
  file: string;
  package: string;
  arch: Arch;
  message: string;
}

/** Looks up a pipeline by its `uses:` name; the repository's `pipelines/` comes first. */
export type PipelineLookup = (name: string) => RawPipeline | undefined;

export interface ModelOptions {
  arch: Arch;
  pipelineNeeds?: boolean;
  /** Repository pipelines (from the scan). */
  pipelines?: ReadonlyMap<string, RawPipeline>;
  /** Built-in pipelines (melange's), consulted when the repository has none of that name. */
  builtinPipelines?: PipelineLookup;
}

export interface ModelResult {
  nodes: ConfigNode[];
  /** Configs whose `target-architecture` excludes this arch. */
  excluded: string[];
  problems: ModelProblem[];
  /** `uses:` names found neither in the repository nor among the built-ins (with pipeline needs). */
  unknownPipelines: Map<string, string[]>;
}

const GOARCH: Record<Arch, string> = { x86_64: 'amd64', aarch64: 'arm64' };

function baseVars(c: RawConfig, arch: Arch): Record<string, string> {
  const v: Record<string, string> = {
    'package.name': c.name,
    'package.version': c.version,
    'package.epoch': c.epoch,
    'package.full-version': `${c.version}-r${c.epoch}`,
    'build.arch': arch,
    'build.goarch': GOARCH[arch],
    'targets.outdir': '/home/build/melange-out',
    'targets.destdir': `/home/build/melange-out/${c.name}`,
    'targets.contextdir': `/home/build/melange-out/${c.name}`,
  };
  // vars may refer to package.* but not to each other (melange substitutes them once).
  const withVars: Record<string, string> = { ...v };
  for (const [k, val] of Object.entries(c.vars)) withVars[`vars.${k}`] = substitute(val, v);
  return c.varTransforms.length > 0 ? applyVarTransforms(c.varTransforms, withVars) : withVars;
}

function parsePriority(s: string | undefined, where: string, problems: string[]): number {
  if (s === undefined || s === '') return 0;
  const n = Number(s);
  if (!Number.isFinite(n)) {
    problems.push(`${where}: provider-priority "${s}" is not a number`);
    return 0;
  }
  return n;
}

/** `name=1.2`/`name~=1.2` → name and the offered version. */
function splitProvide(text: string): { name: string; version?: string } {
  const m = /^([^=~<>]+)(?:~?=+)(.*)$/.exec(text);
  if (!m) return { name: text.trim() };
  return { name: m[1]!.trim(), version: m[2]!.trim() };
}

/** melange accepts `==` and `~=`; apk spells them `=` and `~`. */
function normaliseDep(text: string): string {
  return text.replace(/==/, '=').replace(/~=/, '~');
}

// The same few hundred names (busybox, build-base, …) recur thousands of times: parse each once.
const depCache = new Map<string, Omit<DepRef, 'via'> | string>();

function parseDep(text: string, via: DepRef['via'], msgs: string[]): DepRef | undefined {
  let d = depCache.get(text);
  if (d === undefined) {
    try {
      const p = parseDependency(normaliseDep(text), 'dependency');
      const ref: Omit<DepRef, 'via'> = { text, name: p.name };
      if (p.op !== undefined && p.version !== undefined) {
        ref.op = p.op;
        ref.version = p.version;
      }
      d = ref;
    } catch (e) {
      d = (e as Error).message;
    }
    if (depCache.size > 100_000) depCache.clear();
    depCache.set(text, d);
  }
  if (typeof d === 'string') {
    msgs.push(`${via === 'environment' ? 'environment.contents.packages' : via}: ${d}`);
    return undefined;
  }
  return { ...d, via };
}

function parseCpu(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(s.trim());
  if (!m) return undefined;
  return m[2] === 'm' ? Number(m[1]) / 1000 : Number(m[1]);
}

function parseMemoryGi(s: string | undefined): number | undefined {
  if (!s) return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]i?)?$/i.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase().replace('i', '');
  const f: Record<string, number> = { '': 1 / 1024 ** 3, k: 1 / 1024 ** 2, m: 1 / 1024, g: 1, t: 1024 };
  return n * (f[unit] ?? 1);
}

export function targetsArch(c: RawConfig, arch: Arch): boolean {
  const t = c.targetArchitecture;
  return t.length === 0 || t.includes('all') || t.includes(arch);
}

/** Builds the node for one config on one arch. */
export function modelConfig(
  c: RawConfig,
  opts: ModelOptions,
  problems: ModelProblem[],
  unknown: Map<string, string[]>,
): ConfigNode {
  const { arch } = opts;
  const msgs: string[] = [];
  let vars: Record<string, string>;
  try {
    vars = baseVars(c, arch);
  } catch (e) {
    msgs.push((e as Error).message);
    vars = {};
  }
  const fullVersion = `${c.version}-r${c.epoch}`;
  const provides: ProvideEntry[] = [];
  const pkgPriority = parsePriority(
    substitute(c.deps.providerPriority ?? '', vars),
    'package.dependencies',
    msgs,
  );
  const addProvides = (d: RawDeps, v: Record<string, string>, priority: number) => {
    for (const p of d.provides) {
      const sp = splitProvide(substitute(p, v));
      provides.push({ name: sp.name, ...(sp.version ? { version: sp.version } : {}), real: false, priority });
    }
  };
  provides.push({ name: c.name, version: fullVersion, real: true, priority: pkgPriority });
  addProvides(c.deps, vars, pkgPriority);

  const deps: DepRef[] = [];
  const needs: DepRef[] = [];
  const addDep = (raw: string, via: DepRef['via'], into: DepRef[]) => {
    const text = raw.trim();
    if (text === '' || text.startsWith('!')) return;
    const d = parseDep(text, via, msgs);
    if (d) into.push(d);
  };
  for (const p of c.envPackages) addDep(substitute(p, vars), 'environment', deps);

  const repoPipelines = new Set<string>();
  // Substituted scopes are only built when something will be substituted with them.
  const visit = (u: RawUses, scope: Record<string, string>, depth: number) => {
    if (depth > 16) {
      msgs.push(`uses: ${u.uses}: pipelines nest more than 16 deep`);
      return;
    }
    if (u.if !== undefined && evalCondition(substitute(u.if, scope)) === false) return;
    const repo = opts.pipelines?.get(u.uses);
    if (repo) repoPipelines.add(u.uses);
    if (!opts.pipelineNeeds && !repo) return;
    const p = repo ?? opts.builtinPipelines?.(u.uses);
    if (!p) {
      if (opts.pipelineNeeds) {
        const l = unknown.get(u.uses);
        if (l) l.push(c.name);
        else unknown.set(u.uses, [c.name]);
      }
      return;
    }
    if (!opts.pipelineNeeds && p.uses.length === 0) return;
    // Inputs: `with:` (substituted in the caller's scope) over the pipeline's defaults.
    const inner: Record<string, string> = Object.assign({}, vars);
    for (const k in p.inputs) {
      const def = p.inputs[k]!.default;
      if (def !== undefined) inner[`inputs.${k}`] = substitute(def, scope);
    }
    for (const k in u.with) inner[`inputs.${k}`] = substitute(u.with[k]!, scope);
    if (opts.pipelineNeeds)
      for (const n of p.needs) addDep(substitute(n, inner), `pipeline:${u.uses}`, needs);
    for (const nested of p.uses) visit(nested, inner, depth + 1);
  };
  for (const u of c.uses) visit(u, vars, 0);

  for (const sp of c.subpackages) {
    const items = sp.range !== undefined ? (c.data[sp.range] ?? {}) : undefined;
    const keys = items ? Object.keys(items).sort() : [undefined];
    // One scope per subpackage, updated per range item: everything using it runs before the next item.
    const scope: Record<string, string> = Object.assign({}, vars);
    for (const key of keys) {
      if (key !== undefined) {
        scope['range.key'] = key;
        scope['range.value'] = items![key]!;
      }
      const name = substitute(sp.name, scope);
      scope['subpkg.name'] = name;
      scope['context.name'] = name;
      if (sp.if !== undefined && evalCondition(substitute(sp.if, scope)) === false) continue;
      const pri = parsePriority(
        substitute(sp.deps.providerPriority ?? '', scope),
        `subpackage ${name}`,
        msgs,
      );
      provides.push({ name, version: fullVersion, real: true, priority: pri });
      addProvides(sp.deps, scope, pri);
      for (const u of sp.uses) visit(u, scope, 0);
    }
  }
  for (const d of needs) deps.push(d);

  for (const m of msgs) problems.push({ file: c.file, package: c.name, arch, message: m });
  const resources: ConfigNode['resources'] = {};
  const cpu = parseCpu(c.resources.cpu);
  const mem = parseMemoryGi(c.resources.memory);
  if (cpu !== undefined) resources.cpu = cpu;
  if (mem !== undefined) resources.memoryGi = mem;
  return {
    name: c.name,
    file: c.file,
    version: c.version,
    epoch: c.epoch,
    fullVersion,
    provides,
    deps,
    resources,
    updateShared: c.updateShared,
    repoPipelines: [...repoPipelines].sort(),
  };
}

/** One config's modelling outcome, as the model cache stores it. */
export interface ModelEntry {
  node: ConfigNode;
  problems: ModelProblem[];
  /** `uses:` names that resolved to no pipeline. */
  unknown: string[];
}

/** Remembered outcomes by a key that covers everything the outcome depends on (see build.ts). */
export interface ModelMemo {
  keyOf(c: RawConfig): string | undefined;
  get(key: string): ModelEntry | undefined;
  set(key: string, e: ModelEntry): void;
}

export function buildModel(configs: readonly RawConfig[], opts: ModelOptions, memo?: ModelMemo): ModelResult {
  const problems: ModelProblem[] = [];
  const unknownPipelines = new Map<string, string[]>();
  const nodes: ConfigNode[] = [];
  const excluded: string[] = [];
  for (const c of configs) {
    if (!targetsArch(c, opts.arch)) {
      excluded.push(c.name);
      continue;
    }
    const key = memo?.keyOf(c);
    let e = key === undefined ? undefined : memo!.get(key);
    if (!e) {
      const own: ModelProblem[] = [];
      const unknown = new Map<string, string[]>();
      const node = modelConfig(c, opts, own, unknown);
      e = { node, problems: own, unknown: [...unknown.keys()] };
      if (key !== undefined) memo!.set(key, e);
    }
    nodes.push(e.node);
    for (const p of e.problems) problems.push(p);
    for (const u of e.unknown) {
      const l = unknownPipelines.get(u);
      if (l) l.push(c.name);
      else unknownPipelines.set(u, [c.name]);
    }
  }
  return { nodes, excluded, problems, unknownPipelines };
}
