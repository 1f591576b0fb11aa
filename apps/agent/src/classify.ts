import { BuildError } from '@melange2/engine';

/** gRPC codes a retry may cure: UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED. */
const TRANSIENT_GRPC = new Set([14, 4, 8, 10]);
const TRANSIENT_TEXT =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EAI_AGAIN|socket hang up|fetch failed|unavailable|connection (closed|reset|refused)|GOAWAY|no such host/i;

export type Verdict =
  | {
      readonly kind: 'deterministic';
      readonly stage: string;
      readonly message: string;
      readonly logTail: readonly string[];
    }
  | { readonly kind: 'transient'; readonly message: string }
  /** The environment would install an older provider of `name`, which the run is still to produce. */
  | { readonly kind: 'awaiting'; readonly name: string; readonly message: string };

function causes(e: unknown): unknown[] {
  const out: unknown[] = [];
  for (let c: unknown = e; c !== undefined && out.length < 10; c = (c as { cause?: unknown }).cause) {
    out.push(c);
    if (typeof c !== 'object' || c === null) break;
  }
  return out;
}

/**
 * Whether another attempt could succeed (or must wait for a package the run is still to produce). A step that exited non-zero, a config that does not
 * compile or an environment that cannot resolve fails the same way again (never retried); a
 * daemon that cannot be reached, a dropped connection or a failed upload may not.
 */
export function classify(e: unknown): Verdict {
  for (const c of causes(e)) {
    if (!(c instanceof Error)) continue;
    const { code, pkg } = c as { code?: unknown; pkg?: unknown };
    if (c.name === 'EnvironmentError' && code === 'ENVIRONMENT_AWAITING' && typeof pkg === 'string')
      return { kind: 'awaiting', name: pkg, message: c.message };
    if (
      c.name === 'ConnectError' ||
      c.name === 'CancelledError' ||
      c.name === 'StagingError' ||
      c.name === 'BuildTimeoutError'
    )
      return { kind: 'transient', message: c.message };
    const grpc = (c as { grpcCode?: unknown }).grpcCode;
    if (c.name === 'RpcError' && typeof grpc === 'number' && TRANSIENT_GRPC.has(grpc))
      return { kind: 'transient', message: c.message };
  }
  if (e instanceof BuildError) {
    const step = e.details.step;
    // No process failed: an unreachable daemon or repository shows only in the message.
    if (!step && e.stage !== 'config' && TRANSIENT_TEXT.test(e.message))
      return { kind: 'transient', message: e.message };
    return { kind: 'deterministic', stage: e.stage, message: e.message, logTail: step?.logTail ?? [] };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { kind: 'transient', message };
}
