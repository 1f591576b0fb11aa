import { context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { RunBuild } from './plan-run.js';

/** The coordinator's spans: one per run, one per build under it, a send and a publish per build. */
export const tracer = trace.getTracer('melange2-orch-coordinator');

export function startRunSpan(runId: string, builds: number): Span {
  return tracer.startSpan(`build-all ${runId}`, {
    kind: SpanKind.INTERNAL,
    attributes: { 'cicd.pipeline.run.id': runId, 'build.count': builds },
  });
}

export function endRunSpan(span: Span, failed: boolean): void {
  span.setAttribute('cicd.pipeline.result', failed ? 'failure' : 'success');
  span.end();
}

export function startBuildSpan(run: Span | undefined, b: RunBuild): Span {
  return tracer.startSpan(
    `build ${b.id}`,
    {
      attributes: {
        'apk.origin': b.name,
        'apk.version': b.version,
        'build.arch': b.arch,
        'build.reasons': b.reasons.join('; '),
      },
    },
    run ? trace.setSpan(context.active(), run) : context.active(),
  );
}

/** The producer span of queueing a build; its context travels in the message headers. */
export function startSendSpan(build: Span, arch: string, msgId: string): Span {
  return tracer.startSpan(
    `send ${arch}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'nats',
        'messaging.operation.type': 'send',
        'messaging.message.id': msgId,
      },
    },
    trace.setSpan(context.active(), build),
  );
}

/** The context a child span of `span` starts in (the active one when there is no span). */
export function under(span: Span | undefined) {
  return span ? trace.setSpan(context.active(), span) : context.active();
}

export function endBuildSpan(
  span: Span | undefined,
  r:
    | { readonly ok: true; readonly agent: string; readonly steps: { total: number; cached: number } }
    | { readonly ok: false; readonly reason: string },
): void {
  if (!span) return;
  if (r.ok) {
    span.setAttribute('cicd.pipeline.task.run.result', 'success');
    span.setAttribute('cicd.worker.id', r.agent);
    span.setAttribute('build.steps.cached', r.steps.cached);
    span.setAttribute('build.steps.total', r.steps.total);
  } else {
    span.setStatus({ code: SpanStatusCode.ERROR, message: r.reason });
    span.setAttribute('cicd.pipeline.task.run.result', 'failure');
  }
  span.end();
}
