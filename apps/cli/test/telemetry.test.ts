import { natsConnect, startOtlpReceiver } from '@melange2/test/harness';
import { contextFromHeaders, JetStreamWorkQueue, traceHeaders } from '@melange2/queue';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { describe, expect, inject, it } from 'vitest';
import { startTelemetry, tracingConfigured } from '@melange2/cli/internal';

describe('telemetry', () => {
  it('is off unless the OTEL_* variables name an exporter or an endpoint', async () => {
    expect(tracingConfigured({})).toBe(false);
    expect(tracingConfigured({ OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(
      tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }),
    ).toBe(false);
    expect((await startTelemetry({ serviceName: 'x', env: {} })).enabled).toBe(false);
  });

  it('a build message carries the trace across real NATS: the agent span is the child of the dispatch span', async () => {
    const receiver = await startOtlpReceiver();
    process.env['OTEL_EXPORTER_OTLP_ENDPOINT'] = receiver.endpoint;
    process.env['OTEL_EXPORTER_OTLP_PROTOCOL'] = 'http/json';
    const telemetry = await startTelemetry({ serviceName: 'melange2-orch-test' });
    const nc = await natsConnect(inject('daemons').nats);
    const id = `TRACE_${process.pid}_${Date.now()}`;
    const q = await JetStreamWorkQueue.open<{ pkg: string }>(nc, { stream: id, subjectPrefix: `t.${id}` });
    try {
      expect(telemetry.enabled).toBe(true);
      const tracer = trace.getTracer('melange2-orch');
      await tracer.startActiveSpan('send m2.builds.x86_64', { kind: SpanKind.PRODUCER }, async (span) => {
        await q.publish('x86_64', { pkg: 'zlib' }, { msgId: 'zlib@x86_64', headers: traceHeaders() });
        span.end();
      });
      const d = await (await q.consumer('x86_64')).next({ expiresMs: 3000 });
      expect(d?.headers['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      const parent = contextFromHeaders(d?.headers ?? {});
      context.with(parent, () => {
        tracer
          .startSpan('process m2.builds.x86_64', {
            kind: SpanKind.CONSUMER,
            attributes: { 'apk.origin': 'zlib' },
          })
          .end();
      });
      await d?.ack();
      await telemetry.shutdown();
      const send = receiver.spans.find((s) => s.name === 'send m2.builds.x86_64');
      const processSpan = receiver.spans.find((s) => s.name === 'process m2.builds.x86_64');
      expect(send?.service).toBe('melange2-orch-test');
      expect(processSpan?.traceId).toBe(send?.traceId);
      expect(processSpan?.parentSpanId).toBe(send?.spanId);
      expect(processSpan?.attributes['apk.origin']).toBe('zlib');
    } finally {
      await q.destroy();
      await nc.close();
      await receiver.stop();
    }
  });
});
