import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { listenHttp } from '../http-listen.js';
import { INDEX_NAME, RepositoryError, type RepositoryStore } from './store.js';

/**
 * Serves a repository store as an apk repository: `GET /<arch>/APKINDEX.tar.gz` (never cached:
 * it changes with every publish) and `GET /<arch>/<file>.apk` (immutable once published), also
 * under `/r/<generation>/`.
 */
export async function serveRepository(
  store: RepositoryStore,
  o: {
    host?: string;
    port?: number;
    /** Other routes (the dashboard), tried first: true when one answered. */
    routes?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
  } = {},
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const routed = o.routes ? o.routes(req, res) : Promise.resolve(false);
    routed
      .then((done) => (done ? undefined : handle(store, req, res)))
      .catch((e: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`${(e as Error).message}\n`);
      });
  });
  return { ...(await listenHttp(server, o)), server };
}

async function handle(store: RepositoryStore, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://repo');
  if (url.pathname === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  // `/r/<generation>/<arch>/<file>` is the same file: a new generation in the repository URL
  // makes clients that cache an index by URL (for a while) fetch the fresh one.
  const m = /^(?:\/r\/[^/]+)?\/([^/]+)\/([^/]+)$/.exec(url.pathname);
  if (!m) {
    res.writeHead(404).end();
    return;
  }
  const arch = decodeURIComponent(m[1]!);
  const file = decodeURIComponent(m[2]!);
  try {
    if (file === INDEX_NAME) {
      const bytes = await store.readIndex(arch);
      if (!bytes) return void res.writeHead(404).end();
      res.writeHead(200, {
        'content-type': 'application/gzip',
        'content-length': bytes.length,
        'cache-control': 'no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : bytes);
      return;
    }
    if (!file.endsWith('.apk')) return void res.writeHead(404).end();
    const f = await store.open(arch, file);
    if (!f) return void res.writeHead(404).end();
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': f.size,
      'cache-control': 'public, max-age=31536000, immutable',
    });
    if (req.method === 'HEAD') {
      f.stream.destroy();
      res.end();
      return;
    }
    await pipeline(f.stream, res);
  } catch (e) {
    if (e instanceof RepositoryError)
      return void res.writeHead(400, { 'content-type': 'text/plain' }).end(`${e.message}\n`);
    throw e;
  }
}
