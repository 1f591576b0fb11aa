export { startTelemetry, tracingConfigured } from './sdk.js';
