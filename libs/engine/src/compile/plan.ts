/**
 * What a compile produces (the plan the LLB graph and the build stages are made from) and the
 * options it takes.
 */
import type { Diagnostic, Group, PipelineResolver, StrMap, User, YamlPath } from '@melange2/melange';

/** PATH melange sets for every step (it overrides the environment's own PATH). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/sbin:/bin';
/**
 * SOURCE_DATE_EPOCH when the caller gives none: 1980-01-01, the earliest date zip-based formats
 * (Ruby gems, Python wheels, jars) accept, and a constant so compiled graphs are reproducible.
 */
export const DEFAULT_SOURCE_DATE_EPOCH = 315532800;

/** Where a step comes from: the config step the user wrote, and the file/step that defines its script. */
export interface StepSource {
  readonly file: string;
  readonly path: YamlPath;
  readonly definedIn?: { readonly file: string; readonly path: YamlPath };
}

/** One shell step of a compiled build: one `/bin/sh -c` exec. */
export interface PlanStep {
  /** Display name: the step's `name:`, `uses: X`, or the first line of `runs`. */
  readonly name: string;
  /** The package whose `targets.contextdir` the step writes to. */
  readonly context: string;
  /** `uses:` chain from the config step inwards. */
  readonly uses: readonly string[];
  /** The substituted `runs` text. */
  readonly runs: string;
  /** Absolute working directory. */
  readonly workdir: string;
  /** Step environment: the build environment, PATH, the pipeline chain's `environment`. */
  readonly env: StrMap;
  readonly source: StepSource;
}

/** Where the package's source came from, for the SBOM: a `fetch` or `git-checkout` step's inputs. */
export interface PlanSource {
  readonly uses: 'fetch' | 'git-checkout';
  /** The step's input values (substituted, defaults applied). */
  readonly inputs: StrMap;
}

export interface PlanEnvironment {
  /** `environment.contents.packages` plus the hoisted `needs.packages` of every pipeline, deduplicated. */
  readonly packages: readonly string[];
  readonly repositories: readonly string[];
  readonly keyring: readonly string[];
  /** `environment.environment` with melange's defaults. */
  readonly env: StrMap;
  readonly users: readonly User[];
  readonly groups: readonly Group[];
  readonly runAs?: string;
}

export interface PlanTest {
  /** The package under test. */
  readonly package: string;
  readonly environment: PlanEnvironment;
  readonly steps: readonly PlanStep[];
}

/** A config compiled for one architecture: what the LLB graph (and the next stages) are made from. */
export interface BuildPlan {
  readonly file: string;
  readonly arch: string;
  readonly package: {
    readonly name: string;
    readonly version: string;
    readonly epoch: number;
    readonly fullVersion: string;
  };
  /** Output packages, main first: one `melange-out/<name>` directory each. */
  readonly packages: readonly string[];
  /** Subpackages whose `if:` is false for this arch. */
  readonly skippedSubpackages: readonly string[];
  readonly environment: PlanEnvironment;
  /** The main pipeline, then each subpackage's. */
  readonly steps: readonly PlanStep[];
  /** The `fetch` and `git-checkout` steps that ran, in order (the SBOM's upstream sources). */
  readonly sources: readonly PlanSource[];
  readonly tests: readonly PlanTest[];
  readonly sourceDateEpoch: number;
  readonly warnings: readonly Diagnostic[];
}

export interface CompileOptions {
  /** apk architecture (x86_64, aarch64) or Go name. */
  readonly arch: string;
  readonly resolver: PipelineResolver;
  /** `--build-option` names to enable. */
  readonly buildOptions?: readonly string[];
  readonly sourceDateEpoch?: number;
  /** Also compile `test:` pipelines (default true). */
  readonly tests?: boolean;
}

/** The config's `target-architecture` excludes the requested arch: not an error, nothing to build. */
export class NotForArchError extends Error {
  override readonly name = 'NotForArchError';
  readonly code = 'NOT_FOR_ARCH';
  constructor(
    readonly file: string,
    readonly arch: string,
    readonly targets: readonly string[],
  ) {
    super(`${file}: not built for ${arch} (target-architecture: ${targets.join(', ')})`);
  }
}
