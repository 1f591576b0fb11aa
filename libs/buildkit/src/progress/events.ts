/** Progress of a solve as events. Every vertex gets one `vertex.started` (except ones the
 * daemon reports only as cached) and exactly one terminal event: completed, cached or errored. */

export interface VertexInfo {
  /** Digest as the caller computed it in `marshal` (translated back if the solve rewrote ops). */
  readonly digest: string;
  readonly name: string;
  readonly inputs: readonly string[];
  readonly progressGroup?: { readonly id: string; readonly name: string };
}

export type SolveEvent =
  | { readonly type: 'vertex.started'; readonly vertex: VertexInfo; readonly started: Date }
  | {
      readonly type: 'vertex.completed';
      readonly vertex: VertexInfo;
      readonly started: Date;
      readonly completed: Date;
      readonly durationMs: number;
    }
  | { readonly type: 'vertex.cached'; readonly vertex: VertexInfo; readonly at: Date }
  | {
      readonly type: 'vertex.errored';
      readonly vertex: VertexInfo;
      readonly error: string;
      readonly started: Date | undefined;
      readonly completed: Date;
      readonly durationMs: number;
    }
  | {
      readonly type: 'vertex.log';
      readonly vertex: VertexInfo;
      readonly stream: 'stdout' | 'stderr';
      /** One line, without its newline. */
      readonly line: string;
      readonly timestamp: Date;
    }
  | {
      readonly type: 'vertex.progress';
      readonly vertex: VertexInfo;
      /** e.g. `transferring ctx:`, `extracting sha256:…`, `copying files`. */
      readonly id: string;
      readonly current: number;
      readonly total: number;
      readonly completed: boolean;
    }
  | {
      readonly type: 'vertex.warning';
      readonly vertex: VertexInfo;
      readonly message: string;
      readonly detail: readonly string[];
    };

export type VertexOutcome = 'running' | 'completed' | 'cached' | 'errored' | 'pending';

/** What a solve result reports per vertex (in the order vertices were first seen). */
export interface VertexRecord {
  readonly digest: string;
  readonly name: string;
  readonly outcome: VertexOutcome;
  readonly started: Date | undefined;
  readonly completed: Date | undefined;
  readonly durationMs: number | undefined;
  readonly error: string | undefined;
}

export interface SolveSummary {
  readonly total: number;
  readonly cached: number;
  readonly executed: number;
  readonly errored: number;
  readonly durationMs: number;
}
