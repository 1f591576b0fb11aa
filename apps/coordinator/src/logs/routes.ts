import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BuildLogStore } from '@melange2/protocol';
import type { RunMetrics } from '../metrics/run-metrics.js';
import { serveMetrics } from '../metrics/http.js';
import { serveLog } from './http.js';
import { PublishSections, type TimelineSource } from './publish-section.js';

/**
 * The build-log (`/runs/<id>/builds/<arch>/<package>/log`) and `/metrics` routes, for a server's
 * `routes`: true when one of them answered. `timelines`: where logs' publish sections come from.
 */
export function logMetricsRoute(o: {
  readonly logs?: BuildLogStore;
  readonly metrics?: RunMetrics;
  readonly timelines?: TimelineSource;
}) {
  const sections = o.timelines ? new PublishSections(o.timelines) : undefined;
  return async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const path = new URL(req.url ?? '/', 'http://m2').pathname;
    if (o.logs && (await serveLog(o.logs, req, res, path, sections))) return true;
    return o.metrics ? serveMetrics(o.metrics.registry, req, res, path) : false;
  };
}
