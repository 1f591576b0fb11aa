/**
 * Config parsing on worker threads. The worker is an eval'd bootstrap that imports parse-file.ts/.js
 * next to this module; when running from TypeScript sources it maps `./x.js` imports to `./x.ts`
 * (Node strips the types itself), so the same code works from sources, tests and dist. From
 * sources, a worker loads the built JavaScript instead when dist/ is newer than every source file
 * of depgraph and melange: Node's TypeScript transform made a cold worker slower than its share.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ParseResult } from './types.js';

export interface ParseJob {
  file: string;
  text: string;
  pipelineName?: string;
}

const BOOT = `
const { registerHooks } = require('node:module');
const { parentPort, workerData } = require('node:worker_threads');
if (workerData.fromSource) {
  registerHooks({
    resolve(spec, ctx, next) {
      // Workspace packages resolve to their sources, as in the parent (--conditions).
      if (spec.startsWith('@melange2/')) ctx = { ...ctx, conditions: [...ctx.conditions, '@melange2/source'] };
      try { return next(spec, ctx); } catch (e) {
        if (spec.startsWith('.') && spec.endsWith('.js')) return next(spec.slice(0, -3) + '.ts', ctx);
        throw e;
      }
    },
  });
}
import(workerData.entry).then(({ parseFile }) => {
  parentPort.on('message', (jobs) => {
    const out = [];
    for (const j of jobs) {
      try { out.push(parseFile(j.text, j.file, j.pipelineName)); }
      catch (e) { out.push({ kind: 'error', problem: { file: j.file, message: String(e && e.message || e) } }); }
    }
    parentPort.postMessage(out);
  });
  parentPort.postMessage('ready');
}, (e) => { parentPort.postMessage({ bootError: String(e && e.stack || e) }); });
`;

/** Newest mtime of the `.ts` files in `dir`; Infinity when it cannot be read. */
function newestSource(dir: string): number {
  try {
    let newest = 0;
    for (const f of readdirSync(dir))
      if (f.endsWith('.ts')) newest = Math.max(newest, statSync(join(dir, f)).mtimeMs);
    return newest;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** `<package>/dist/<file>` when it is at least as new as every file of `<package>/src`. */
function freshBuild(pkgDir: string, file: string): string | undefined {
  const built = join(pkgDir, 'dist', file);
  if (!existsSync(built)) return undefined;
  return statSync(built).mtimeMs >= newestSource(join(pkgDir, 'src')) ? built : undefined;
}

let entry: { entry: string; fromSource: boolean } | undefined;

function parseEntry(): { entry: string; fromSource: boolean } {
  entry ??= findEntry();
  return entry;
}

function findEntry(): { entry: string; fromSource: boolean } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { entry: new URL('./parse-file.js', here).href, fromSource: false };
  // From sources: the built files, if depgraph's and melange's are both current.
  const depgraph = dirname(dirname(fileURLToPath(here)));
  const melange = dirname(dirname(fileURLToPath(import.meta.resolve('@melange2/melange'))));
  const built = freshBuild(depgraph, 'parse-file.js');
  if (built && freshBuild(melange, 'index.js'))
    return { entry: pathToFileURL(built).href, fromSource: false };
  return { entry: new URL('./parse-file.ts', here).href, fromSource: true };
}

/** A parse worker that did not start or died; the scan parses its share in-process instead. */
class ParseWorkerError extends Error {
  override readonly name = 'ParseWorkerError';
  readonly code = 'PARSE_WORKER';
}

/** Parses `jobs` on one worker; resolves with results in job order. */
export function parseOnWorker(jobs: ParseJob[]): Promise<ParseResult[]> {
  return new Promise((resolve, reject) => {
    const data = parseEntry();
    // From sources, Node compiles the TypeScript itself; parameter properties need the transform.
    const execArgv = data.fromSource ? ['--experimental-transform-types', '--no-warnings'] : [];
    const w = new Worker(BOOT, { eval: true, workerData: data, execArgv });
    w.on('message', (m: unknown) => {
      if (m === 'ready') {
        w.postMessage(jobs);
      } else if (Array.isArray(m)) {
        resolve(m as ParseResult[]);
        void w.terminate();
      } else {
        reject(
          new ParseWorkerError(
            `depgraph parse worker failed to start: ${(m as { bootError?: string }).bootError}`,
          ),
        );
        void w.terminate();
      }
    });
    w.on('error', (e) =>
      reject(new ParseWorkerError(`depgraph parse worker failed: ${e.message}`, { cause: e })),
    );
    w.on('exit', (code) =>
      reject(new ParseWorkerError(`depgraph parse worker exited with code ${code} before answering`)),
    );
  });
}
