/**
 * Installs every package a run built into one fresh root with the project's own installer
 * (libs/apk), the way a user's `apk add` of all of them would: resolved together against the run's
 * repository and the toolchain's, then this run's packages merged into the root (the toolchain
 * stand-in, one package holding a whole Debian root, is resolved but not unpacked: its files are
 * not what is being checked). Also says which of the run's dependencies were resolved to another
 * repository although the run itself provides them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ApkError,
  installPackages,
  Keyring,
  loadRepository,
  parseDependency,
  resolveWorld,
  UnsatisfiableError,
} from '@melange2/apk';

export interface InstallRequest {
  readonly arch: string;
  /** The run's repository first, then the toolchain's. */
  readonly repositories: readonly string[];
  readonly keys: readonly string[];
  /** Package names to install (all the run built). */
  readonly world: readonly string[];
  readonly cacheDir: string;
  /** Parent of the temporary root (removed afterwards). */
  readonly tmpDir: string;
}

export type InstallOutcome =
  | {
      readonly ok: true;
      readonly installed: number;
      readonly files: number;
      /** `pkg: dep → provider (repo)`: a dependency the run provides, resolved elsewhere. */
      readonly foreign: readonly string[];
      /** Packages left out because a dependency of theirs has no provider (the resolver's message). */
      readonly unresolved: readonly string[];
    }
  | { readonly ok: false; readonly error: string; readonly unresolved: readonly string[] };

export async function installTogether(req: InstallRequest): Promise<InstallOutcome> {
  const keyring = Keyring.load([...req.keys]);
  const specs = req.repositories.map((url) => ({ url }));
  const loaded = await Promise.all(specs.map((s) => loadRepository(s, req.arch, { keyring })));
  // A package whose dependencies nothing provides is left out (and named), the rest installed.
  const unresolved: string[] = [];
  let world = [...req.world];
  let packages: ReturnType<typeof resolveWorld>['packages'] | undefined;
  while (!packages && world.length) {
    try {
      packages = resolveWorld({ repositories: loaded, world, arch: req.arch }).packages;
    } catch (e) {
      if (!(e instanceof UnsatisfiableError)) throw e;
      const head = e.chain[0];
      if (head === undefined || !world.includes(head)) return { ok: false, error: e.message, unresolved };
      unresolved.push(e.message);
      world = world.filter((w) => w !== head);
    }
  }
  if (!packages) return { ok: false, error: 'no package could be resolved', unresolved };
  const own = packages.filter((p) => p.repository === 0);
  const root = await mkdtemp(join(req.tmpDir, 'real-root-'));
  try {
    const r = await installPackages({
      packages: own,
      repositories: specs,
      arch: req.arch,
      world: req.world,
      cacheDir: req.cacheDir,
      keyring,
      root: join(root, 'fs'),
      hardlink: true,
    });
    const files = r.packages.reduce((n, p) => n + p.manifest.files.length, 0);
    return {
      ok: true,
      installed: own.length,
      files,
      foreign: foreignPicks(loaded[0]!.entries, packages),
      unresolved,
    };
  } catch (e) {
    if (e instanceof ApkError) return { ok: false, error: e.message, unresolved };
    throw e;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

type Picked = ReturnType<typeof resolveWorld>['packages'][number];

/** Dependencies of the run's packages that the run provides but that resolved to another repository. */
function foreignPicks(runEntries: readonly Picked['entry'][], picked: readonly Picked[]): string[] {
  const runProvides = new Set<string>();
  for (const e of runEntries) {
    runProvides.add(e.name);
    for (const p of e.provides) runProvides.add(parseDependency(p).name);
  }
  const byProvide = new Map<string, Picked>();
  // The run's own picks first: a name both provide counts as the run's.
  for (const p of [...picked].sort((a, b) => a.repository - b.repository)) {
    byProvide.set(p.entry.name, p);
    for (const pr of p.entry.provides)
      if (!byProvide.has(parseDependency(pr).name)) byProvide.set(parseDependency(pr).name, p);
  }
  const out: string[] = [];
  for (const p of picked.filter((x) => x.repository === 0)) {
    for (const d of p.entry.depends) {
      const dep = parseDependency(d);
      if (dep.conflict || !runProvides.has(dep.name)) continue;
      const chosen = byProvide.get(dep.name);
      if (chosen && chosen.repository !== 0)
        out.push(`${p.entry.name}: ${dep.name} → ${chosen.entry.name} (repository ${chosen.repository})`);
    }
  }
  return out.sort();
}
