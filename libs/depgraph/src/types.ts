/**
 * What the scan keeps of one file: a config's {@link GraphConfig} (from @melange2/melange, still
 * per-arch agnostic, so one cached record serves every arch) or a repository pipeline.
 */
import type { GraphConfig, GraphStep } from '@melange2/melange';

export { type Arch, ARCHES } from '@melange2/melange';

/** A repository pipeline (`pipelines/<name>.yaml`) reduced to what `needs` resolution uses. */
export interface RepoPipeline {
  /** The `uses:` name: path under `pipelines/` without `.yaml`. */
  name: string;
  file: string;
  definition: GraphStep;
}

/** A config or pipeline that could not be read; the scan goes on without it. */
export interface ScanProblem {
  file: string;
  /** 1-based line, when the parser knows it. */
  line?: number;
  message: string;
  /** The ConfigError code (`CONFIG_YAML`, `PIPELINE_CYCLE`, `CONFIG_TOO_LARGE`, …), when there is one. */
  code?: string;
}

export type ParseResult =
  | { kind: 'config'; config: GraphConfig }
  | { kind: 'pipeline'; pipeline: RepoPipeline }
  /** A YAML file that is not a melange config (no `package:` key). */
  | { kind: 'skip' }
  | { kind: 'error'; problem: ScanProblem };
