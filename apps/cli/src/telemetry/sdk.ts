export interface Telemetry {
  /** False when no exporter is configured: the API stays a no-op and costs nothing. */
  readonly enabled: boolean;
  /** Flushes pending spans; call before the process exits. */
  shutdown(): Promise<void>;
}

/** Tracing is on when the standard OTEL_* variables name an exporter or an OTLP endpoint. */
export function tracingConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env['OTEL_SDK_DISABLED'] === 'true') return false;
  const exporter = env['OTEL_TRACES_EXPORTER'];
  if (exporter) return exporter.split(',').some((e) => e.trim() !== 'none');
  return Boolean(env['OTEL_EXPORTER_OTLP_ENDPOINT'] || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);
}

/**
 * Starts the OpenTelemetry Node SDK for this process, configured entirely by the standard
 * `OTEL_*` variables (exporter, endpoint, protocol, headers, sampler, resource attributes).
 * No auto-instrumentation: the spans that matter (run, build, queue wait, BuildKit vertices,
 * publish) are made by our own code. The SDK (about 0.4 s of CPU to load) is imported only when
 * tracing is configured.
 */
export async function startTelemetry(o: {
  serviceName: string;
  env?: NodeJS.ProcessEnv;
}): Promise<Telemetry> {
  const env = o.env ?? process.env;
  if (!tracingConfigured(env)) return { enabled: false, shutdown: async () => {} };
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK({ serviceName: env['OTEL_SERVICE_NAME'] ?? o.serviceName, instrumentations: [] });
  sdk.start();
  return { enabled: true, shutdown: () => sdk.shutdown() };
}
