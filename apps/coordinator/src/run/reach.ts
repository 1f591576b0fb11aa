import { fetchBytes, parseRepositoryLine, readIndexArchive, repoLocation } from '@melange2/apk';
import type { RunPlan } from './plan-run.js';

/** An index read for the reach map may be at most this large (the engine's own limit governs installs). */
const MAX_INDEX_BYTES = 256 * 1024 * 1024;
/** How long reading one appended index may take before the run starts without it. */
const INDEX_TIMEOUT_MS = 30_000;

/** `p`, or a rejection after `ms` (the read itself is left to finish or fail on its own). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  p.catch(() => {});
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A dependency's name (`so:libz.so.1>=1` → `so:libz.so.1`); none for a conflict (`!foo`). */
function depName(text: string): string | undefined {
  if (text.startsWith('!')) return undefined;
  return text.split(/[<>=~]/)[0] || undefined;
}

/**
 * What installing a name pulls in, per arch: the repository's configs' `dependencies.runtime`
 * (the plan's), and the `D:` of every package in the published index and in the appended
 * repositories (`p:` names map to the same). An over-approximation of an environment's runtime
 * closure by name, used only to bound what a job's `awaiting` names (run/awaiting.ts).
 */
export class ReachIndex {
  readonly #byArch = new Map<string, Map<string, Set<string>>>();

  constructor(plan: Pick<RunPlan, 'runtime'>) {
    for (const [arch, names] of Object.entries(plan.runtime ?? {}))
      for (const [name, deps] of Object.entries(names)) for (const d of deps) this.#add(arch, name, d);
  }

  #add(arch: string, name: string, dep: string): void {
    const m = this.#byArch.get(arch) ?? new Map<string, Set<string>>();
    this.#byArch.set(arch, m);
    const s = m.get(name) ?? new Set<string>();
    m.set(name, s);
    s.add(dep);
  }

  /** Adds every entry of an `APKINDEX.tar.gz` (signatures are not checked: the engine checks them). */
  addIndex(arch: string, bytes: Buffer, where: string): void {
    for (const e of readIndexArchive(bytes, where).index.entries) {
      const deps = e.depends.map(depName).filter((d): d is string => d !== undefined);
      if (deps.length === 0) continue;
      for (const n of [e.name, ...e.provides.map(depName)]) {
        if (n === undefined) continue;
        for (const d of deps) this.#add(arch, n, d);
      }
    }
  }

  /**
   * Reads each repository's index for each arch (a directory or URL, `@tag` allowed); one that
   * cannot be read (or not within 30 s) is told to `log` and left out (the reach is then smaller,
   * never wrong in kind).
   */
  async addRepositories(
    arches: readonly string[],
    repositories: readonly string[],
    log: (line: string) => void,
  ): Promise<void> {
    for (const line of repositories) {
      const spec = parseRepositoryLine(line);
      if (!spec) continue;
      for (const arch of arches) {
        const at = repoLocation(spec, arch, 'APKINDEX.tar.gz');
        try {
          const bytes = await within(
            fetchBytes(at, { name: 'index', max: MAX_INDEX_BYTES }),
            INDEX_TIMEOUT_MS,
            at,
          );
          this.addIndex(arch, bytes, at);
        } catch (e) {
          log(`${at}: not read for what environments install (${(e as Error).message})`);
        }
      }
    }
  }

  /** The names installing `name` on `arch` pulls in directly. */
  deps(arch: string, name: string): ReadonlySet<string> | undefined {
    return this.#byArch.get(arch)?.get(name);
  }
}

/**
 * The reach of a run: its configs' runtime dependencies, the published index and the appended
 * repositories of each arch that has something to build (nothing is read for a no-op run).
 */
export async function reachFor(
  plan: Pick<RunPlan, 'runtime' | 'builds'>,
  store: { readIndex(arch: string): Promise<Buffer | undefined> },
  repositories: readonly string[],
  log: (line: string) => void,
): Promise<ReachIndex> {
  const reach = new ReachIndex(plan);
  const arches = [...new Set(plan.builds.map((b) => b.arch))];
  for (const arch of arches) {
    const bytes = await store.readIndex(arch).catch(() => undefined);
    try {
      if (bytes) reach.addIndex(arch, bytes, `${arch}/APKINDEX.tar.gz`);
    } catch (e) {
      log(`the published ${arch} index was not read for what environments install (${(e as Error).message})`);
    }
  }
  await reach.addRepositories(arches, repositories, log);
  return reach;
}
