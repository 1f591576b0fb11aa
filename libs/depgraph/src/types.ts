/**
 * What the scan extracts from one melange config: only the fields the build graph needs, still
 * unsubstituted (substitution depends on the arch), so one cached record serves every arch.
 */

export type Arch = 'x86_64' | 'aarch64';
export const ARCHES: readonly Arch[] = ['x86_64', 'aarch64'];

export function isArch(s: string): s is Arch {
  return s === 'x86_64' || s === 'aarch64';
}

/** A `uses:` step with its `with:` inputs and `if:` condition, nested steps flattened. */
export interface RawUses {
  uses: string;
  with: Record<string, string>;
  if?: string;
}

/** One `dependencies:` block (package or subpackage). */
export interface RawDeps {
  provides: string[];
  providerPriority?: string;
}

export interface RawSubpackage {
  name: string;
  range?: string;
  if?: string;
  deps: RawDeps;
  uses: RawUses[];
}

export interface RawVarTransform {
  from: string;
  match: string;
  replace: string;
  to: string;
}

export interface RawConfig {
  /** Path relative to the repository root. */
  file: string;
  name: string;
  version: string;
  epoch: string;
  deps: RawDeps;
  targetArchitecture: string[];
  resources: { cpu?: string; memory?: string };
  updateShared: boolean;
  vars: Record<string, string>;
  varTransforms: RawVarTransform[];
  /** `data:` ranges: name → items (key → value), keys kept as written (`3.10` stays `3.10`). */
  data: Record<string, Record<string, string>>;
  envPackages: string[];
  uses: RawUses[];
  subpackages: RawSubpackage[];
}

/** A repository pipeline (`pipelines/<name>.yaml`) reduced to what `needs` resolution uses. */
export interface RawPipeline {
  /** The `uses:` name: path under `pipelines/` without `.yaml`. */
  name: string;
  file: string;
  inputs: Record<string, { default?: string }>;
  needs: string[];
  uses: RawUses[];
}

/** A config or pipeline that could not be read; the scan goes on without it. */
export interface ScanProblem {
  file: string;
  /** 1-based line, when the YAML parser knows it. */
  line?: number;
  message: string;
}

export type ExtractResult =
  | { kind: 'config'; config: RawConfig }
  | { kind: 'pipeline'; pipeline: RawPipeline }
  /** A YAML file that is not a melange config (no `package:` key). */
  | { kind: 'skip' }
  | { kind: 'error'; problem: ScanProblem };
