import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PipelineResolver } from '@melange2/melange';
import { type CompileOutcome, compileText } from '@melange2/engine';

export const testdata = fileURLToPath(new URL('../../../testdata/engine/', import.meta.url));
export const repo = `${testdata}repo`;
export const bad = `${testdata}bad`;

/** Resolver with the fixture repository's pipelines/ first, then the built-ins. */
export const resolver = new PipelineResolver([`${repo}/pipelines`]);

function compileFixture(path: string, arch = 'x86_64'): CompileOutcome {
  return compileText(readFileSync(path, 'utf8'), path.slice(testdata.length), { arch, resolver });
}

export function compiled(path: string, arch = 'x86_64') {
  const o = compileFixture(path, arch);
  if (o.status !== 'compiled') throw new Error(`${path}: ${o.status}: ${'reason' in o ? o.reason : ''}`);
  return o;
}

export function failed(path: string, arch = 'x86_64') {
  const o = compileFixture(path, arch);
  if (o.status !== 'failed') throw new Error(`${path}: expected a failure, got ${o.status}`);
  return o;
}
