export { startTelemetry, type Telemetry, tracingConfigured } from './sdk.js';
