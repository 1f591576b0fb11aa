import { compareVersions } from '@melange2/apk';
import type { RunBuild } from './plan-run.js';

/** What the run knows of the builds a cutoff decision looks at. */
export interface CutoffState {
  /** Builds cut off themselves (so their packages are unchanged too). */
  readonly cutOff: ReadonlySet<string>;
  /** Per published build: did its packages' provides change from the published ones? */
  readonly providesChanged: ReadonlyMap<string, boolean>;
}

/**
 * Early cutoff: the unchanged dependencies that let `b` be skipped as up to date, or undefined
 * when it must build. Only a build that is in the run because dependencies changed qualifies,
 * and only once every dependency was cut off or republished with the same provides.
 */
export function cutoffCause(b: RunBuild, s: CutoffState): string | undefined {
  if (b.deps.length === 0) return undefined;
  if (!b.reasons.every((r) => r.startsWith('dependency changed: '))) return undefined;
  for (const d of b.deps) if (!s.cutOff.has(d) && s.providesChanged.get(d) !== false) return undefined;
  return b.deps.map((d) => d.slice(0, d.lastIndexOf('@'))).join(', ');
}

/**
 * Whether the newly published packages provide other names than those published before under the
 * same package names. Versions are ignored (`cmd:foo=1.1-r0` moves with every release); a
 * changed soname is a changed name (`so:libfoo.so.2`).
 */
export function providesChanged(
  before: readonly { name: string; version: string; provides: readonly string[] }[],
  after: readonly { name: string; provides: readonly string[] }[],
): boolean {
  const names = (p: readonly string[]) => [...new Set(p.map((x) => x.split(/[=<>~]/)[0]))].sort().join(' ');
  for (const e of after) {
    // Against the newest version published before: the one dependents were built with.
    let old: (typeof before)[number] | undefined;
    for (const x of before)
      if (x.name === e.name && (!old || compareVersions(x.version, old.version) > 0)) old = x;
    if (!old || names(old.provides) !== names(e.provides)) return true;
  }
  return false;
}
