import { describe, expect, it } from 'vitest';
import { boundaryViolations, type ProjectGraphFile } from '../../scripts/check-boundaries.ts';

/** A graph in the shape `nx graph --file` writes, with the given tags and dependencies. */
function graph(projects: Record<string, { tags: string[]; deps?: string[] }>): ProjectGraphFile {
  return {
    graph: {
      nodes: Object.fromEntries(
        Object.entries(projects).map(([name, p]) => [name, { data: { root: name, tags: p.tags } }]),
      ),
      dependencies: Object.fromEntries(
        Object.entries(projects).map(([name, p]) => [
          name,
          [...(p.deps ?? []), 'npm:yaml'].map((target) => ({ source: name, target })),
        ]),
      ),
    },
  };
}

const lib = (scope: string, deps: string[] = []) => ({ tags: ['type:lib', `scope:${scope}`], deps });
const app = (deps: string[] = []) => ({ tags: ['type:app', 'scope:melange'], deps });

describe('module boundaries (scripts/check-boundaries.ts, run by the lint step)', () => {
  it('accepts apps on libs, melange libs on generic libs, generic libs on each other', () => {
    const g = graph({
      apk: lib('generic'),
      buildkit: lib('generic', ['apk']),
      engine: lib('melange', ['apk', 'buildkit']),
      cli: app(['engine', 'apk']),
    });
    expect(boundaryViolations(g)).toEqual([]);
  });

  it('rejects a lib that imports an app', () => {
    const g = graph({ engine: lib('melange', ['agent']), agent: app() });
    expect(boundaryViolations(g)).toEqual([
      'engine (type:lib) depends on agent (type:app, scope:melange): a type:lib project may only depend on type:lib',
    ]);
  });

  it('rejects a generic lib (buildkit, apk) that imports a melange lib', () => {
    const g = graph({ apk: lib('generic', ['depgraph']), depgraph: lib('melange') });
    expect(boundaryViolations(g)).toEqual([
      'apk (scope:generic) depends on depgraph (type:lib, scope:melange): a scope:generic project may only depend on scope:generic',
    ]);
  });

  it('rejects a project without its type and scope tags', () => {
    const g = graph({ protocol: { tags: ['type:lib'] } });
    expect(boundaryViolations(g)).toEqual([
      'protocol (protocol): needs exactly one "scope:*" tag in package.json "nx".tags, has 0',
    ]);
  });

  it('rejects a workspace import that package.json does not declare', () => {
    const g = graph({ buildkit: lib('generic', ['apk']), apk: lib('generic') });
    expect(boundaryViolations(g, { buildkit: new Set(), apk: new Set() })).toEqual([
      'buildkit imports apk but its package.json does not declare it',
    ]);
    expect(boundaryViolations(g, { buildkit: new Set(['apk']), apk: new Set() })).toEqual([]);
  });
});
