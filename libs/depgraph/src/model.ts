/**
 * The per-arch package model: a node per config with what it provides and what its build needs.
 * What a config provides and needs on an arch comes from @melange2/melange's projection (the
 * same scope, conditions and pipelines as the compile); this module turns names into apk
 * dependencies and priorities.
 */
import { parseDependency, type VersionOp } from '@melange2/apk';
import { buildsFor, configNeeds, type GraphConfig, type PipelineLookup } from '@melange2/melange';
import type { Arch, RepoPipeline } from './types.js';

interface ProvideEntry {
  name: string;
  /** Version offered: `version-rEPOCH` for real names, the `=ver` part for provides, none if unversioned. */
  version?: string;
  /** A package or subpackage name (not a virtual `provides`). */
  real: boolean;
  priority: number;
  /** The package (main or subpackage) of the config that offers the name. */
  pkg: string;
}

export interface DepRef {
  /** As written after substitution (`foo>=1.2`). */
  text: string;
  name: string;
  op?: VersionOp;
  version?: string;
  /** Where it came from: the environment, the `needs` of a pipeline, or a package's `dependencies.runtime`. */
  via: 'environment' | `pipeline:${string}` | `runtime:${string}`;
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
  /**
   * `dependencies.runtime` of each package the config builds (only those that declare some):
   * what an environment installing that package also installs.
   */
  runtime: Record<string, DepRef[]>;
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

export interface ModelOptions {
  arch: Arch;
  pipelineNeeds?: boolean;
  /** Repository pipelines (from the scan). */
  pipelines?: ReadonlyMap<string, RepoPipeline>;
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

export function targetsArch(c: GraphConfig, arch: Arch): boolean {
  return buildsFor(c.targetArchitecture, arch);
}

/** `version-rEPOCH`: what apk and APKINDEX call a config's version. */
export const fullVersionOf = (c: GraphConfig): string => `${c.version}-r${c.epoch}`;

/** Builds the node for one config on one arch. */
function modelConfig(
  c: GraphConfig,
  opts: ModelOptions,
  problems: ModelProblem[],
  unknown: Map<string, string[]>,
): ConfigNode {
  const { arch } = opts;
  const msgs: string[] = [];
  const fullVersion = fullVersionOf(c);
  const repo = opts.pipelines;
  const builtin = opts.builtinPipelines;
  // Without pipeline needs only repository pipelines matter (for change detection): walking the
  // built-ins too would cost every config a walk of `fetch`, `autoconf/*`, … for nothing.
  const lookup: PipelineLookup = opts.pipelineNeeds
    ? (name) => repo?.get(name)?.definition ?? builtin?.(name)
    : (name) => repo?.get(name)?.definition;
  const n = configNeeds(c, arch, lookup);
  for (const m of n.problems) msgs.push(m);

  const provides: ProvideEntry[] = [];
  n.packages.forEach((p, i) => {
    const priority = parsePriority(
      p.providerPriority,
      i === 0 ? 'package.dependencies' : `subpackage ${p.name}`,
      msgs,
    );
    provides.push({ name: p.name, version: fullVersion, real: true, priority, pkg: p.name });
    for (const text of p.provides) {
      const sp = splitProvide(text);
      provides.push({
        name: sp.name,
        ...(sp.version ? { version: sp.version } : {}),
        real: false,
        priority,
        pkg: p.name,
      });
    }
  });
  const runtime: Record<string, DepRef[]> = {};
  for (const p of n.packages) {
    const refs: DepRef[] = [];
    for (const raw of p.runtime) {
      const text = raw.trim();
      if (text === '' || text.startsWith('!')) continue;
      const d = parseDep(text, `runtime:${p.name}`, msgs);
      if (d) refs.push(d);
    }
    if (refs.length > 0) runtime[p.name] = refs;
  }

  const deps: DepRef[] = [];
  const addDep = (raw: string, via: DepRef['via']) => {
    const text = raw.trim();
    if (text === '' || text.startsWith('!')) return;
    const d = parseDep(text, via, msgs);
    if (d) deps.push(d);
  };
  for (const p of n.environment) addDep(p, 'environment');
  if (opts.pipelineNeeds) {
    for (const need of n.pipelineNeeds)
      for (const p of need.packages) addDep(p, `pipeline:${need.uses === '' ? 'inline' : need.uses}`);
    for (const u of n.unknown) {
      const l = unknown.get(u);
      if (l) l.push(c.name);
      else unknown.set(u, [c.name]);
    }
  }

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
    epoch: String(c.epoch),
    fullVersion,
    provides,
    deps,
    runtime,
    resources,
    updateShared: c.updateShared,
    repoPipelines: n.uses.filter((u) => repo?.has(u)),
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
  keyOf(c: GraphConfig): string | undefined;
  get(key: string): ModelEntry | undefined;
  set(key: string, e: ModelEntry): void;
}

export function buildModel(
  configs: readonly GraphConfig[],
  opts: ModelOptions,
  memo?: ModelMemo,
): ModelResult {
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
