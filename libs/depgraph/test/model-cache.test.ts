import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type BuildGraph, buildGraph, scanRepository } from '@melange2/depgraph';
import { copyFixture, tempCacheDir } from './helpers.js';

const edges = (g: BuildGraph) => g.edges.map((e) => `${g.nodes[e.from]!.name}→${g.nodes[e.to]!.name}`).sort();

describe('the model cache', () => {
  it('gives the same graph warm as cold, and notices a changed repository pipeline', async () => {
    const repo = copyFixture();
    const cacheDir = tempCacheDir();
    const s1 = await scanRepository(repo, { cacheDir });
    const cold = buildGraph(s1, { arch: 'x86_64', pipelineNeeds: true, cacheDir });
    expect(readdirSync(join(cacheDir, 'depgraph')).filter((f) => f.endsWith('.model.json'))).toHaveLength(1);
    const warm = buildGraph(await scanRepository(repo, { cacheDir }), {
      arch: 'x86_64',
      pipelineNeeds: true,
      cacheDir,
    });
    expect(warm.nodes).toEqual(cold.nodes);
    expect(edges(warm)).toEqual(edges(cold));
    expect(edges(warm)).toContain('app→helper');

    writeFileSync(
      join(repo, 'pipelines/local/thing.yaml'),
      'inputs:\n  pkg:\n    default: x\nneeds:\n  packages:\n    - zlib\n',
    );
    const after = buildGraph(await scanRepository(repo, { cacheDir }), {
      arch: 'x86_64',
      pipelineNeeds: true,
      cacheDir,
    });
    expect(edges(after)).not.toContain('app→helper');
    expect(edges(after)).toContain('app→zlib');
  });
});
