/**
 * The variables melange defines for a config on one arch (`package.*`, `vars.*`, `targets.*`,
 * `build.*`, triplets, `options.*.enabled`), as its compile sees them. The engine's compile and
 * the needs/provides projection both take their scope from here.
 */
import { type ArchInfo, archInfo } from './arch.js';
import type { StrMap } from './types.js';

/** The build workspace inside the build environment (melange's `/home/build`). */
export const WORKSPACE = '/home/build';
export const OUTDIR = `${WORKSPACE}/melange-out`;

/** What a config scope is made from: the parsed config, reduced to what the scope reads. */
export interface ScopeSource {
  readonly name: string;
  readonly version: string;
  readonly epoch: number;
  readonly description?: string;
  /** Parse-time variables (`vars.*` after var-transforms; other keys are ignored). */
  readonly vars: StrMap;
  readonly subpackages: readonly string[];
  /** Names of the config's build options. */
  readonly options: readonly string[];
}

/**
 * The scope of the main package on `arch` (apk or Go name). `Object.create(null)`: keys such as
 * `constructor` never resolve; child scopes inherit through the prototype chain.
 */
export function configScope(
  src: ScopeSource,
  arch: string | ArchInfo,
  buildOptions: readonly string[] = [],
): Record<string, string> {
  const a = typeof arch === 'string' ? archInfo(arch) : arch;
  const scope: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, {
    'package.name': src.name,
    'package.version': src.version,
    'package.epoch': String(src.epoch),
    'package.full-version': `${src.version}-r${src.epoch}`,
    'package.description': src.description ?? '',
    'package.srcdir': WORKSPACE,
    'targets.outdir': OUTDIR,
    'targets.destdir': `${OUTDIR}/${src.name}`,
    'targets.contextdir': `${OUTDIR}/${src.name}`,
    'context.name': src.name,
    'host.triplet.gnu': `${a.gnu}-gnu`,
    'host.triplet.rust': `${a.rust}-gnu`,
    'cross.triplet.gnu.glibc': `${a.gnu}-gnu`,
    'cross.triplet.gnu.musl': `${a.gnu}-musl`,
    'cross.triplet.rust.glibc': `${a.rust}-gnu`,
    'cross.triplet.rust.musl': `${a.rust}-musl`,
    'build.arch': a.apk,
    'build.goarch': a.go,
  });
  for (const k in src.vars) if (k.startsWith('vars.')) scope[k] = src.vars[k]!;
  for (const name of [src.name, ...src.subpackages]) scope[`targets.package.${name}`] = `${OUTDIR}/${name}`;
  for (const k of src.options) scope[`options.${k}.enabled`] = 'false';
  for (const k of buildOptions) scope[`options.${k}.enabled`] = 'true';
  return scope;
}

/** A new scope whose unknown keys fall through to `parent`. */
export function inheritScope(parent: StrMap): Record<string, string> {
  return Object.create(parent) as Record<string, string>;
}

/** The scope of one subpackage, over its config's scope. */
export function subpackageScope(parent: StrMap, name: string): Record<string, string> {
  return Object.assign(inheritScope(parent), {
    'subpkg.name': name,
    'context.name': name,
    'targets.subpkgdir': `${OUTDIR}/${name}`,
    'targets.contextdir': `${OUTDIR}/${name}`,
  });
}
