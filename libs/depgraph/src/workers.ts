/**
 * Config parsing on worker threads. The worker is an eval'd bootstrap that imports parse-file.ts/.js
 * next to this module; when running from TypeScript sources it maps `./x.js` imports to `./x.ts`
 * (Node strips the types itself), so the same code works from sources, tests and dist.
 */
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

function parseEntry(): { entry: string; fromSource: boolean } {
  const here = import.meta.url;
  const fromSource = here.endsWith('.ts');
  return { entry: new URL(fromSource ? './parse-file.ts' : './parse-file.js', here).href, fromSource };
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
          new Error(`depgraph parse worker failed to start: ${(m as { bootError?: string }).bootError}`),
        );
        void w.terminate();
      }
    });
    w.on('error', reject);
    w.on('exit', (code) =>
      reject(new Error(`depgraph parse worker exited with code ${code} before answering`)),
    );
  });
}
