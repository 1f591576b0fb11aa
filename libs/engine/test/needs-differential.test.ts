/**
 * The graph and the build agree on what a build needs: for every config of the Wolfi corpus on
 * both arches, the build dependencies depgraph counts (environment packages and every pipeline's
 * `needs`) are exactly the packages the compile puts into the build environment.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARCHES, buildModel, builtinPipelines, scanRepository } from '@melange2/depgraph';
import {
  ConfigError,
  graphConfig,
  type ParsedConfig,
  parseConfig,
  parseGraphConfig,
  PipelineResolver,
} from '@melange2/melange';
import { describe, expect, it } from 'vitest';
import { compileConfig, defaultPipelineDirs, listConfigs, NotForArchError } from '@melange2/engine';

const corpus = fileURLToPath(new URL('../../../../shared/corpora/wolfi-os', import.meta.url));
const present = existsSync(corpus);
if (!present) process.stdout.write(`needs differential test skipped: ${corpus} not found\n`);

/** What apk installs: conflicts (`!name`) and blanks are not build dependencies. */
const installs = (names: readonly string[]) =>
  [...new Set(names.map((n) => n.trim()).filter((n) => n !== '' && !n.startsWith('!')))].sort();

describe.skipIf(!present)('needs: depgraph against the compile, whole Wolfi corpus', () => {
  it('agree for every config on both arches', async () => {
    const t0 = performance.now();
    const scan = await scanRepository(corpus, { cacheDir: false, workers: 0 });
    const resolver = new PipelineResolver(defaultPipelineDirs(corpus));
    // Each config parsed once by the engine; its plan compiled per arch below.
    const parsed = new Map<string, ParsedConfig>();
    const parseFailures: string[] = [];
    const projectionMismatches: string[] = [];
    for (const f of listConfigs(corpus)) {
      const text = readFileSync(join(corpus, f), 'utf8');
      try {
        const p = parseConfig(text, f);
        parsed.set(p.config.package.name, p);
        // The graph's cheaper parse projects to the same thing as the full one.
        const full = JSON.stringify(graphConfig(p));
        if (JSON.stringify(parseGraphConfig(text, f)) !== full) projectionMismatches.push(f);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        parseFailures.push(`${f}: ${e.message}`);
      }
    }
    expect(parseFailures).toEqual([]);
    expect(projectionMismatches).toEqual([]);

    const mismatches: string[] = [];
    let checked = 0;
    for (const arch of ARCHES) {
      const model = buildModel(scan.configs, {
        arch,
        pipelines: scan.pipelines,
        pipelineNeeds: true,
        builtinPipelines: builtinPipelines(),
      });
      expect(model.problems).toEqual([]);
      const graphNeeds = new Map(model.nodes.map((n) => [n.name, installs(n.deps.map((d) => d.text))]));
      for (const [name, p] of parsed) {
        let built: string[] | undefined;
        try {
          built = installs(compileConfig(p, { arch, resolver, tests: false }).environment.packages);
        } catch (e) {
          if (!(e instanceof NotForArchError)) throw e;
        }
        const counted = graphNeeds.get(name);
        checked++;
        if (JSON.stringify(built) !== JSON.stringify(counted))
          mismatches.push(
            `${name} (${arch}): compile ${JSON.stringify(built ?? 'not built')}, graph ${JSON.stringify(counted ?? 'not built')}`,
          );
      }
    }
    process.stdout.write(
      `needs differential: ${parsed.size} configs × ${ARCHES.length} arches = ${checked} checked, ${mismatches.length} mismatches, ${((performance.now() - t0) / 1000).toFixed(1)}s\n`,
    );
    expect(mismatches.slice(0, 20)).toEqual([]);
    expect(checked).toBeGreaterThan(6000);
  }, 300_000);
});
