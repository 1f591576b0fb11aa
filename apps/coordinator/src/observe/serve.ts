import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenHttp } from '../http-listen.js';
import type { Dashboard } from './dashboard-server.js';
import { TimelineError } from './timeline-schema.js';

/** Answers a request with the dashboard's routes; a bad run id is a 404, other faults a 500. */
export async function dashboardRoute(
  d: Dashboard,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  try {
    return await d.handle(req, res);
  } catch (e) {
    if (res.headersSent) {
      res.end();
      return true;
    }
    const code = e instanceof TimelineError ? 404 : 500;
    res.writeHead(code, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
    return true;
  }
}

/** The dashboard on its own HTTP server (`build-all --dashboard`): loopback unless told. */
export async function serveDashboard(
  d: Dashboard,
  o: { host?: string; port?: number } = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    void dashboardRoute(d, req, res).then((done) => {
      if (!done) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    });
  });
  const l = await listenHttp(server, o);
  return {
    url: l.url,
    close: () => {
      // Server-sent event streams end first: closing waits for open responses otherwise.
      d.close();
      return l.close();
    },
  };
}
