import { type Context, context, propagation, ROOT_CONTEXT } from '@opentelemetry/api';

/**
 * W3C trace context across the queue: the publisher puts `traceparent` (and `tracestate`) into
 * the message headers, the consumer continues the trace from them. With no SDK registered both
 * are no-ops, so there is no cost when tracing is off.
 */
export function traceHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

export function contextFromHeaders(headers: Readonly<Record<string, string>>): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}
