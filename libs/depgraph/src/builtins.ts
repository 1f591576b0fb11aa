/**
 * melange's built-in pipelines (`BUILTIN_PIPELINE_DIR` of @melange2/melange), consulted after the
 * repository's `pipelines/`, and a digest of their content for the model cache's key.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUILTIN_PIPELINE_DIR,
  type PipelineLookup,
  PipelineResolver,
  resolverLookup,
} from '@melange2/melange';
import { listPipelines } from './scan.js';

const lookups = new Map<string, PipelineLookup>();
const digests = new Map<string, string>();

/** The built-in pipelines by `uses:` name (each file read and checked once per process). */
export function builtinPipelines(dir: string = BUILTIN_PIPELINE_DIR): PipelineLookup {
  let l = lookups.get(dir);
  if (!l) {
    l = resolverLookup(new PipelineResolver([], dir));
    lookups.set(dir, l);
  }
  return l;
}

/** A digest of every built-in pipeline file (names and contents). */
export function builtinPipelinesDigest(dir: string = BUILTIN_PIPELINE_DIR): string {
  let d = digests.get(dir);
  if (!d) {
    const files: string[] = [];
    listPipelines(dir, dir, files);
    const h = createHash('sha1');
    for (const f of files.sort())
      h.update(`${f}\0`)
        .update(readFileSync(join(dir, f)))
        .update('\0');
    d = h.digest('base64');
    digests.set(dir, d);
  }
  return d;
}
