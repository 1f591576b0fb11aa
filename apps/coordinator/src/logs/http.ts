import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type BuildLogStore, finishedText, LogError, latestRun, readLog } from '@melange2/protocol';
import type { PublishSections } from './publish-section.js';
import { parseRange } from './range.js';

const LOG_PATH = /^\/runs\/([^/]+)\/builds\/([^/]+)\/([^/]+)\/log$/;

async function write(
  res: ServerResponse,
  chunks: AsyncIterable<Uint8Array>,
  limit = Infinity,
): Promise<void> {
  let left = limit;
  for await (const c of chunks) {
    if (left <= 0) break;
    const part = c.length > left ? c.subarray(0, left) : c;
    left -= part.length;
    if (!res.write(part)) await new Promise((r) => res.once('drain', r));
  }
  res.end();
}

/** The agent's text from byte `from`, then the publish section's bytes from where they start. */
async function* combined(
  store: BuildLogStore,
  ref: Parameters<typeof finishedText>[1],
  agentBytes: number,
  section: Uint8Array,
  from: number,
): AsyncIterable<Uint8Array> {
  if (from < agentBytes) yield* finishedText(store, ref, from);
  const at = Math.max(0, from - agentBytes);
  if (at < section.length) yield section.subarray(at);
}

/**
 * `GET /runs/<run>/builds/<arch>/<package>/log`: a build's log as plain text (`latest` for the
 * newest run). A finished log answers `Range: bytes=…` with 206 and `Content-Range`, or 416 when
 * the range starts past its end; a running build's log is what it has written so far (200).
 * A finished log ends with the coordinator's publish section when `sections` has one: sizes,
 * ranges and the ETag are those of the combined text. Whether it handled the request.
 */
export async function serveLog(
  store: BuildLogStore,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  sections?: PublishSections,
): Promise<boolean> {
  const m = LOG_PATH.exec(path);
  if (!m) return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return true;
  }
  const head = req.method === 'HEAD';
  const [run, arch, name] = [m[1]!, m[2]!, m[3]!].map(decodeURIComponent) as [string, string, string];
  try {
    const runId = run === 'latest' ? await latestRun(store) : run;
    const ref = runId ? await store.ref({ runId, arch, name }) : undefined;
    if (!ref) {
      res
        .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`no log for ${name} (${arch}) in run ${run}\n`);
      return true;
    }
    const type = { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' };
    if (ref.state === 'running' || !ref.digest || ref.bytes === undefined) {
      res.writeHead(200, { ...type, 'cache-control': 'no-store', 'x-build-state': ref.state });
      if (head) res.end();
      else await write(res, readLog(store, ref));
      return true;
    }
    const text = sections ? await sections.of(ref) : '';
    const section = new TextEncoder().encode(text);
    const size = ref.bytes + section.length;
    const etag = text
      ? `"${ref.digest}-${createHash('sha256').update(section).digest('hex').slice(0, 16)}"`
      : `"${ref.digest}"`;
    const common = { ...type, 'accept-ranges': 'bytes', etag, 'x-build-state': ref.state };
    const r = parseRange(req.headers.range, size);
    if (r.kind === 'unsatisfiable') {
      res.writeHead(416, { ...common, 'content-range': `bytes */${size}` }).end();
      return true;
    }
    if (r.kind === 'full') {
      res.writeHead(200, { ...common, 'content-length': size });
      if (head) res.end();
      else await write(res, combined(store, ref, ref.bytes, section, 0));
      return true;
    }
    const length = r.end - r.start + 1;
    res.writeHead(206, {
      ...common,
      'content-length': length,
      'content-range': `bytes ${r.start}-${r.end}/${size}`,
    });
    if (head) res.end();
    else await write(res, combined(store, ref, ref.bytes, section, r.start), length);
    return true;
  } catch (e) {
    if (!(e instanceof LogError) || res.headersSent) throw e;
    res
      .writeHead(e.code === 'log-bad-name' ? 400 : 404, { 'content-type': 'text/plain' })
      .end(`${e.message}\n`);
    return true;
  }
}
