import { chmodSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Writes `text` to `path` readable by its owner only (0600), through a temp file and a rename,
 * so a reader (nats-server reloading, a client starting) never sees half a file.
 */
export function writeOwnerOnly(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}
