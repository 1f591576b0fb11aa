/**
 * Parse-time substitution of a decoded config: every field melange substitutes with the package
 * and `vars.*` keys once the YAML is read (melange's ParseConfiguration), before validation.
 */
import { substitute, substituteCondition } from './substitute.js';
import type {
  Copyright,
  Dependencies,
  Environment,
  Package,
  Pipeline,
  Scriptlets,
  StrMap,
  Subpackage,
  Test,
} from './types.js';

const sMap = (m: StrMap | undefined, vars: StrMap): StrMap | undefined => {
  if (!m) return m;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m)) out[k] = substitute(v, vars);
  return out;
};
export const sList = (l: readonly string[] | undefined, vars: StrMap) => l?.map((v) => substitute(v, vars));
const sStr = (t: string | undefined, vars: StrMap) => (t === undefined ? undefined : substitute(t, vars));

function strip<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

export function substitutePipeline(p: Pipeline, vars: StrMap): Pipeline {
  return strip({
    ...p,
    name: sStr(p.name, vars),
    with: sMap(p.with, vars),
    runs: sStr(p.runs, vars),
    pipeline: p.pipeline?.map((c) => substitutePipeline(c, vars)),
    needs: p.needs ? { packages: sList(p.needs.packages, vars) ?? [] } : undefined,
    if: p.if === undefined ? undefined : substituteCondition(p.if, vars),
    'working-directory': sStr(p['working-directory'], vars),
    environment: sMap(p.environment, vars),
  });
}

function substituteDeps(d: Dependencies | undefined, vars: StrMap): Dependencies | undefined {
  if (!d) return d;
  return strip({
    ...d,
    runtime: sList(d.runtime, vars),
    provides: sList(d.provides, vars),
    replaces: sList(d.replaces, vars),
    'provider-priority': sStr(d['provider-priority'], vars),
    'replaces-priority': sStr(d['replaces-priority'], vars),
  });
}

function substituteScriptlets(sc: Scriptlets | undefined, vars: StrMap): Scriptlets | undefined {
  if (!sc) return sc;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(sc)) out[k] = typeof v === 'string' ? substitute(v, vars) : v;
  if (sc.trigger)
    out['trigger'] = strip({ script: sStr(sc.trigger.script, vars), paths: sList(sc.trigger.paths, vars) });
  return out as Scriptlets;
}

export function substitutePackage(p: Package, vars: StrMap): Package {
  return strip({
    ...p,
    name: substitute(p.name, vars),
    version: substitute(p.version, vars),
    description: sStr(p.description, vars),
    annotations: sMap(p.annotations, vars),
    url: sStr(p.url, vars),
    'target-architecture': sList(p['target-architecture'], vars),
    copyright: p.copyright?.map(
      (c): Copyright =>
        strip({
          ...c,
          paths: sList(c.paths, vars),
          attestation: sStr(c.attestation, vars),
          license: sStr(c.license, vars),
          'license-path': sStr(c['license-path'], vars),
          'detection-override': sStr(c['detection-override'], vars),
        }),
    ),
    dependencies: substituteDeps(p.dependencies, vars),
    scriptlets: substituteScriptlets(p.scriptlets, vars),
  });
}

export function substituteEnvironment(e: Environment | undefined, vars: StrMap): Environment {
  if (!e) return {};
  return strip({
    ...e,
    contents: e.contents
      ? strip({
          ...e.contents,
          repositories: sList(e.contents.repositories, vars),
          build_repositories: sList(e.contents.build_repositories, vars),
          keyring: sList(e.contents.keyring, vars),
          packages: sList(e.contents.packages, vars),
        })
      : undefined,
    environment: sMap(e.environment, vars),
  });
}

/** melange always adds user and group `build` (uid/gid 1000) to the build environment. */
export function withBuildAccount(e: Environment): Environment {
  const accounts = e.accounts ?? {};
  const groups = accounts.groups ?? [];
  const users = accounts.users ?? [];
  return {
    ...e,
    accounts: {
      ...accounts,
      groups: groups.some((g) => g.groupname === 'build')
        ? groups
        : [...groups, { groupname: 'build', gid: 1000, members: ['build'] }],
      users: users.some((u) => u.username === 'build')
        ? users
        : [...users, { username: 'build', uid: 1000, gid: 1000 }],
    },
  };
}

export function substituteTest(t: Test | undefined, vars: StrMap): Test | undefined {
  if (!t) return t;
  return strip({
    environment: t.environment ? substituteEnvironment(t.environment, vars) : undefined,
    pipeline: t.pipeline?.map((p) => substitutePipeline(p, vars)),
  });
}

export function substituteSubpackage(sp: Subpackage, vars: StrMap): Subpackage {
  return strip({
    ...sp,
    if: sp.if === undefined ? undefined : substituteCondition(sp.if, vars),
    name: substitute(sp.name, vars),
    pipeline: sp.pipeline?.map((p) => substitutePipeline(p, vars)),
    dependencies: substituteDeps(sp.dependencies, vars),
    scriptlets: substituteScriptlets(sp.scriptlets, vars),
    description: sStr(sp.description, vars),
    annotations: sMap(sp.annotations, vars),
    url: sStr(sp.url, vars),
    test: substituteTest(sp.test, vars),
  });
}
