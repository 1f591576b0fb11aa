import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CachedPackage, readApkHead } from '@melange2/apk';
import { packageLocalName } from './layers.js';
import { EnvironmentError } from './resolve.js';

/** Where one package's data member is served, and the digest BuildKit keys it by. */
export interface ServedPackage {
  readonly url: string;
  /** `sha256:<datahash>`: the data member's digest, known from `.PKGINFO` before any transfer. */
  readonly checksum: string;
}

/** Packages whose heads are remembered (a bound for a long-lived agent). */
const MAX_ADDED = 4096;

/**
 * Serves the data member (a gzip tar) of cached packages over HTTP for `llb.http` sources. With
 * the package's datahash as the source checksum the daemon keys the layer by content it already
 * knows, so a package it has seen once is neither fetched nor synced again, by any build.
 * The daemon fetches from this server itself: it must be able to reach `host` (same machine, or
 * an address the daemon can route to).
 */
export class LayerServer {
  readonly #server: Server;
  readonly #files = new Map<string, { apk: string; start: number; end: number }>();
  readonly #base: string;
  readonly #added = new Map<string, { stamp: string; served: ServedPackage }>();
  #bytes = 0;

  private constructor(server: Server, base: string) {
    this.#server = server;
    this.#base = base;
  }

  /** Listens on `host` (default 127.0.0.1) on a free port; `advertise` is the host name given to the daemon. */
  static async start(opts: { host?: string; advertise?: string } = {}): Promise<LayerServer> {
    const host = opts.host ?? '127.0.0.1';
    let self: LayerServer | undefined;
    const server = createServer((req, res) => self?.handle(req.url ?? '', res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    server.unref();
    const port = (server.address() as AddressInfo).port;
    self = new LayerServer(server, `http://${opts.advertise ?? host}:${port}`);
    return self;
  }

  /** Bytes the daemon downloaded so far. */
  get bytesServed(): number {
    return this.#bytes;
  }

  /**
   * Makes a package's data member available; reads only its head (to find the member and its
   * digest), once per cached file (the cache names it by checksum; the stat catches a rewrite).
   */
  async add(p: CachedPackage): Promise<ServedPackage> {
    const st = await stat(p.apk);
    const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
    const known = this.#added.get(p.apk);
    if (known?.stamp === stamp) return known.served;
    const served = await this.#add(p);
    if (this.#added.size >= MAX_ADDED) this.#added.clear();
    this.#added.set(p.apk, { stamp, served });
    return served;
  }

  async #add(p: CachedPackage): Promise<ServedPackage> {
    const head = await readApkHead(p.apk);
    const datahash = head.info.datahash;
    if (!datahash)
      throw new EnvironmentError('package', `${p.apk}: .PKGINFO has no datahash`, {
        arch: p.entry.arch,
        pkg: p.entry.name,
      });
    const name = `${packageLocalName(p)}.tar.gz`;
    this.#files.set(`/${name}`, { apk: p.apk, start: head.dataOffset, end: head.fileSize - 1 });
    return { url: `${this.#base}/${name}`, checksum: `sha256:${datahash}` };
  }

  private handle(url: string, res: import('node:http').ServerResponse): void {
    const f = this.#files.get(url);
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': String(f.end - f.start + 1) });
    const s = createReadStream(f.apk, { start: f.start, end: f.end });
    s.on('data', (c) => {
      this.#bytes += (c as Buffer).length;
    });
    s.on('error', () => res.destroy());
    s.pipe(res);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    // The daemon's HTTP client keeps connections alive; they must not hold the close.
    this.#server.closeIdleConnections();
    await closed;
  }
}
