/**
 * melange's built-in pipelines as libs/engine ships them (`BUILTIN_PIPELINE_DIR`), for
 * `--pipeline-needs`: read once per process with the same extraction as repository pipelines.
 */
import { readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { BUILTIN_PIPELINE_DIR } from '@melange2/engine';
import { extractFile } from './extract.js';
import type { PipelineLookup } from './model.js';
import { listPipelines } from './scan.js';
import type { RawPipeline } from './types.js';

const loaded = new Map<string, Map<string, RawPipeline>>();

/** The built-in pipelines by `uses:` name. */
export function builtinPipelineMap(dir: string = BUILTIN_PIPELINE_DIR): ReadonlyMap<string, RawPipeline> {
  let m = loaded.get(dir);
  if (!m) {
    m = new Map();
    const files: string[] = [];
    listPipelines(dir, dir, files);
    for (const f of files) {
      const name = f.slice(0, -'.yaml'.length).split(sep).join('/');
      const r = extractFile(readFileSync(join(dir, f), 'utf8'), join(dir, f), name);
      if (r.kind === 'error') throw new Error(`built-in pipeline ${r.problem.file}: ${r.problem.message}`);
      if (r.kind === 'pipeline') m.set(name, r.pipeline);
    }
    loaded.set(dir, m);
  }
  return m;
}

export function builtinPipelines(dir: string = BUILTIN_PIPELINE_DIR): PipelineLookup {
  const map = builtinPipelineMap(dir);
  return (name) => map.get(name);
}
