import { createServer } from 'node:net';
import type { OsBootstrap } from '@melange2/test/os';

/** A port free on 127.0.0.1 just now (for a process that must be told its port in advance). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** `build-all`'s flags for testdata/os on the test daemons, into `out`. */
export function osRunArgs(
  b: OsBootstrap,
  out: string,
  buildkit: { readonly x86_64: string; readonly aarch64: string },
): string[] {
  return [
    '--out-dir',
    out,
    '--signing-key',
    b.keyPath,
    '--repository-append',
    b.repo,
    '--apk-cache-dir',
    b.cacheDir,
    '--buildkit-addr',
    `x86_64=${buildkit.x86_64}`,
    '--buildkit-addr',
    `aarch64=${buildkit.aarch64}`,
    '--no-parse-cache',
  ];
}
