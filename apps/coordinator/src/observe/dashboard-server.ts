import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { chromeTrace } from './chrome-trace.js';
import { dashboardAssets, servedPage } from './dashboard-page.js';
import { checkRunId, type RunStore } from './run-store.js';
import type { TimelineRecorder } from './timeline-recorder.js';
import { type RunSummary, type RunTimeline, summaryOf } from './timeline-types.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** speedscope's static app (`dist/release` of its npm package), served under `/speedscope/`. */
function speedscopeDir(): string | undefined {
  try {
    return join(createRequire(import.meta.url).resolve('speedscope/package.json'), '..', 'dist', 'release');
  } catch {
    return undefined;
  }
}

/**
 * The dashboard's routes, for a server that has others (the coordinator's repository server) or
 * none (`build-all --dashboard`): `handle` answers what it knows and returns false otherwise.
 *   /                        runs list           /runs/<id>/             a run's dashboard
 *   /api/runs                summaries (JSON)    /api/runs/<id>          timeline (JSON)
 *   /api/runs/<id>/events    server-sent events of the live run
 *   /runs/<id>/trace.json    Chrome Trace Event JSON     /speedscope/…   the trace viewer
 */
export class Dashboard {
  /** The run in progress in this process, if any. */
  live: TimelineRecorder | undefined;
  readonly #store: RunStore | undefined;
  readonly #speedscope = speedscopeDir();
  readonly #streams = new Set<ServerResponse>();

  constructor(o: { store?: RunStore; live?: TimelineRecorder } = {}) {
    this.#store = o.store;
    this.live = o.live;
  }

  /** Ends the server-sent event streams (a server's close waits for them otherwise). */
  close(): void {
    for (const s of this.#streams) s.end();
    this.#streams.clear();
  }

  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = new URL(req.url ?? '/', 'http://dashboard').pathname;
    if (path === '/' || path === '/runs' || path === '/runs/')
      return send(res, 'text/html; charset=utf-8', await servedPage({ mode: 'list' }));
    if (path === '/dashboard/app.js') return send(res, TYPES['.js']!, (await dashboardAssets()).js);
    if (path === '/api/runs') return json(res, await this.#list());
    if (path.startsWith('/speedscope/'))
      return this.#static(res, path.slice('/speedscope/'.length) || 'index.html');
    let m = /^\/runs\/([^/]+)\/?$/.exec(path);
    if (m)
      return send(
        res,
        'text/html; charset=utf-8',
        await servedPage({ mode: 'run', runId: checkRunId(decodeURIComponent(m[1]!)) }),
      );
    m = /^\/runs\/([^/]+)\/trace\.json$/.exec(path);
    if (m) {
      const t = await this.timeline(decodeURIComponent(m[1]!));
      return t ? json(res, chromeTrace(t)) : notFound(res);
    }
    m = /^\/api\/runs\/([^/]+)(\/events)?$/.exec(path);
    if (!m) return false;
    const id = decodeURIComponent(m[1]!);
    if (m[2]) return this.#events(req, res, id);
    // The live run's JSON from its builds' cached JSON.
    if (this.live?.timeline.runId === checkRunId(id))
      return send(res, 'application/json', this.live.timelineJson());
    const t = await this.timeline(id);
    return t ? json(res, t) : notFound(res);
  };

  async #list(): Promise<RunSummary[]> {
    const stored = (await this.#store?.list()) ?? [];
    const live = this.live?.timeline;
    if (!live) return stored;
    return [summaryOf(live), ...stored.filter((s) => s.runId !== live.runId)];
  }

  /** A run's timeline: the live run's as it is, another's as stored. */
  async timeline(runId: string): Promise<RunTimeline | undefined> {
    checkRunId(runId);
    if (this.live?.timeline.runId === runId) return this.live.timeline;
    return this.#store?.get(runId);
  }

  /** The live run's changed builds, every 250 ms at most; one `update` for a finished run. */
  async #events(req: IncomingMessage, res: ServerResponse, runId: string): Promise<boolean> {
    const t = await this.timeline(runId);
    if (!t) return notFound(res);
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    const write = (data: string) => res.write(`event: update\ndata: ${data}\n\n`);
    const live = this.live?.timeline.runId === runId ? this.live : undefined;
    // What changed between the page's fetch and this stream: everything once, then deltas.
    write(
      live
        ? live.updateJson(t.builds)
        : JSON.stringify({ builds: t.builds, status: t.status, finishedAt: t.finishedAt, agents: t.agents }),
    );
    if (!live || t.status !== 'running') {
      res.end();
      return true;
    }
    this.#streams.add(res);
    // One serialisation per update for all the streams (TimelineUpdate.json).
    const off = live.subscribe((u) => {
      write(u.json());
      if (u.timeline.status !== 'running') {
        off();
        this.#streams.delete(res);
        res.end();
      }
    });
    req.on('close', () => {
      off();
      this.#streams.delete(res);
    });
    return true;
  }

  async #static(res: ServerResponse, rel: string): Promise<boolean> {
    if (!this.#speedscope) return notFound(res);
    const file = normalize(join(this.#speedscope, decodeURIComponent(rel)));
    if (!file.startsWith(this.#speedscope + sep)) return notFound(res);
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) return notFound(res);
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': st.size,
    });
    createReadStream(file).pipe(res);
    return true;
  }
}

function send(res: ServerResponse, type: string, body: string): true {
  res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
  return true;
}

const json = (res: ServerResponse, v: unknown) => send(res, 'application/json', JSON.stringify(v));

function notFound(res: ServerResponse): true {
  res.writeHead(404, { 'content-type': 'text/plain' }).end('no such run\n');
  return true;
}
