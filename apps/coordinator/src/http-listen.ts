import type { Server } from 'node:http';

/**
 * Listens on `host:port` (default 127.0.0.1 and a free port): the URL to reach it at (loopback
 * when bound to every address) and how to close it with its open connections.
 */
export async function listenHttp(
  server: Server,
  o: { host?: string; port?: number },
): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', resolve);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const host = o.host && o.host !== '0.0.0.0' ? o.host : '127.0.0.1';
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
