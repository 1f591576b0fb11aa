import type { RunBuild } from '@melange2/coordinator';

/** A planned x86_64 build of `name` (one package of the same name) for coordinator tests. */
export const runBuild = (name: string, deps: string[] = []): RunBuild => ({
  id: `${name}@x86_64`,
  name,
  arch: 'x86_64',
  deps,
  cost: 1,
  reasons: ['not published'],
  version: '1.0-r0',
  configFile: `${name}.yaml`,
  input: `input-${name}`,
  packages: [name],
});
