import type { SolveSummary } from './progress/events.js';

/** Base class: every error this library throws on purpose. `code` is stable for callers. */
export class BuildkitError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BuildkitError';
    this.code = code;
  }
}

/** The daemon could not be reached (bad address, no socket, refused, TLS failure, timeout). */
export class ConnectError extends BuildkitError {
  readonly address: string;
  constructor(address: string, reason: string, options?: { cause?: unknown }) {
    super('BUILDKIT_CONNECT', `cannot reach buildkitd at ${address}: ${reason}`, options);
    this.name = 'ConnectError';
    this.address = address;
  }
}

/** Bad arguments, such as an unknown local dir name or an exporter without a destination. */
export class UsageError extends BuildkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BUILDKIT_USAGE', message, options);
    this.name = 'UsageError';
  }
}

/** A solve failed. When a step failed, `step` names it and carries its exit code and log tail. */
export class SolveError extends BuildkitError {
  readonly ref: string;
  readonly step: FailedStep | undefined;
  /** Counts of the vertices seen before the failure (for a closing summary). */
  readonly summary: SolveSummary | undefined;
  constructor(
    ref: string,
    message: string,
    step: FailedStep | undefined,
    options?: { cause?: unknown; summary?: SolveSummary },
  ) {
    super('BUILDKIT_SOLVE', message, options);
    this.name = 'SolveError';
    this.ref = ref;
    this.step = step;
    this.summary = options?.summary;
  }
}

export interface FailedStep {
  /** Vertex digest as the caller computed it (see `Definition.digest`). */
  readonly digest: string;
  /** Vertex name (the `customName`, or BuildKit's description of the op). */
  readonly name: string;
  /** Exit code of the failed process, when the error came from one. */
  readonly exitCode: number | undefined;
  /** The daemon's error text for the vertex. */
  readonly error: string;
  /** Last log lines of the step (stdout and stderr interleaved), at most 50. */
  readonly logTail: readonly string[];
}

/** The solve was cancelled through its AbortSignal; the daemon was told to stop the build. */
export class CancelledError extends BuildkitError {
  readonly ref: string;
  constructor(ref: string, options?: { cause?: unknown }) {
    super('BUILDKIT_CANCELLED', `solve ${ref} was cancelled`, options);
    this.name = 'CancelledError';
    this.ref = ref;
  }
}

/** The daemon answered an RPC with an error (other than a solve failure). */
export class RpcError extends BuildkitError {
  readonly method: string;
  readonly grpcCode: number | undefined;
  constructor(method: string, message: string, grpcCode: number | undefined, options?: { cause?: unknown }) {
    super('BUILDKIT_RPC', `${method}: ${message}`, options);
    this.name = 'RpcError';
    this.method = method;
    this.grpcCode = grpcCode;
  }
}
