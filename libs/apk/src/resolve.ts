/**
 * Dependency resolution in apko's manner: greedy, deterministic, no backtracking, no I/O. Given
 * parsed repository indexes and a world, it returns the install set with dependencies first.
 */
import type { IndexEntry } from './index-text.js';
import {
  type Dependency,
  formatDependency,
  offeredVersion,
  parseDependency,
  parseProvide,
  satisfies,
} from './dependency.js';
import { ApkError } from './errors.js';
import { compareVersions } from './version.js';

export interface ResolverRepository {
  /** Where it came from (URL or path), for messages. */
  name: string;
  /** `@tag` of a pinned repository: used only for `name@tag` world entries and their dependencies. */
  tag?: string;
  entries: readonly IndexEntry[];
}

export interface ResolveRequest {
  repositories: readonly ResolverRepository[];
  /** World entries: `name`, `name>=1.2`, `!name`, `name@tag`, `so:libfoo.so.1`, `cmd:sh`… */
  world: readonly string[];
  /** Packages whose `A:` is another arch (other than noarch) are ignored. */
  arch?: string;
}

export interface ResolvedPackage {
  entry: IndexEntry;
  /** Index into `repositories`. */
  repository: number;
  tag?: string;
}

export interface Resolution {
  /** Install order: every package after its dependencies (cycles broken deterministically). */
  packages: ResolvedPackage[];
}

interface Candidate {
  entry: IndexEntry;
  repo: number;
  tag: string | undefined;
  /** Position in the input, for stable ordering. */
  seq: number;
}

/** An unsatisfiable world; `chain` is the path of dependencies that led to the failure. */
export class UnsatisfiableError extends ApkError {
  constructor(
    readonly chain: readonly string[],
    readonly reason: string,
  ) {
    super('unsatisfiable', `${chain.join(' → ')}: ${reason}`);
  }
}

/**
 * The name → candidates map of a set of repositories for one arch. Build it once and reuse it for
 * many resolutions: with a large index, building dominates resolving.
 */
export class ResolverIndex {
  readonly byName = new Map<string, Candidate[]>();
  readonly withInstallIf: Candidate[] = [];

  constructor(
    readonly repositories: readonly ResolverRepository[],
    readonly arch?: string,
  ) {
    let seq = 0;
    repositories.forEach((r, repo) => {
      for (const entry of r.entries) {
        if (arch && entry.arch && entry.arch !== arch && entry.arch !== 'noarch') continue;
        const c: Candidate = { entry, repo, tag: r.tag, seq: seq++ };
        this.add(entry.name, c);
        for (const p of entry.provides) {
          const name = parseProvide(p).name;
          if (name !== entry.name) this.add(name, c);
        }
        if (entry.installIf.length) this.withInstallIf.push(c);
      }
    });
  }

  private add(name: string, c: Candidate): void {
    const l = this.byName.get(name);
    if (l) l.push(c);
    else this.byName.set(name, [c]);
  }
}

interface Conflict {
  dep: Dependency;
  by: string;
  /** The package that declared it: a package never conflicts with itself. */
  owner?: Candidate;
}

/** Everything a choice changes, so a failed choice can be undone. */
interface State {
  selected: Map<string, Candidate>;
  /** Names (own and versioned provides) taken by selected packages → the package taking them. */
  taken: Map<string, Candidate>;
  conflicts: Conflict[];
  order: Candidate[];
  /** Constraints declared by selected packages, by name, before they are resolved. */
  pending: Map<string, Dependency[]>;
}

/** How many failed choices may be retried with the next candidate before giving up. */
const BACKTRACK_BUDGET = 500;

class Resolver {
  private readonly byName: Map<string, Candidate[]>;
  private readonly req: { repositories: readonly ResolverRepository[] };
  private readonly s: State = {
    selected: new Map(),
    taken: new Map(),
    conflicts: [],
    order: [],
    pending: new Map(),
  };
  /** Undo actions for every change to `s`, so a failed choice can be rolled back cheaply. */
  private readonly journal: (() => void)[] = [];
  private budget = BACKTRACK_BUDGET;

  constructor(
    private readonly index: ResolverIndex,
    private readonly world: readonly string[],
  ) {
    this.byName = index.byName;
    this.req = { repositories: index.repositories };
  }

  private snapshot(): number {
    return this.journal.length;
  }

  private restore(mark: number): void {
    while (this.journal.length > mark) this.journal.pop()!();
  }

  private setIn<V>(m: Map<string, V>, k: string, v: V): void {
    const prev = m.get(k);
    m.set(k, v);
    this.journal.push(prev === undefined ? () => m.delete(k) : () => m.set(k, prev));
  }

  private pushTo<V>(a: V[], v: V): void {
    a.push(v);
    this.journal.push(() => a.pop());
  }

  private addPending(d: Dependency): void {
    const l = this.s.pending.get(d.name);
    if (l) this.pushTo(l, d);
    else this.setIn(this.s.pending, d.name, [d]);
  }

  private describe(c: Candidate): string {
    return `${c.entry.name}-${c.entry.version}`;
  }

  private allowedByPin(c: Candidate, dep: Dependency, pin: string | undefined): boolean {
    return c.tag === undefined || c.tag === dep.tag || c.tag === pin;
  }

  /**
   * Best first: an explicitly requested pin; for dependencies of a pinned package, untagged
   * repositories (apk prefers them, the pin only allows); stand-ins (see `isStandIn`) last. When a
   * virtual (an unversioned provide with provider_priority, see `isVirtual`) is among the
   * candidates, provider_priority first: its missing version ties with every version in apko's and
   * apk's ranking, which leaves provider_priority to decide between it and any other candidate
   * (Wolfi's empty `py3-x` origin, priority 0, loses to `py3.11-x` providing `py3-x` with priority
   * 311); ordering all candidates by it keeps the order total. Then the real name over a provide;
   * the highest provided version; provider_priority; the highest own version; repository order;
   * name.
   */
  private rank(dep: Dependency, pin: string | undefined, virtuals: boolean) {
    const pref = (c: Candidate) =>
      dep.tag !== undefined ? c.tag === dep.tag : pin !== undefined && c.tag === undefined;
    return (a: Candidate, b: Candidate): number => {
      const pa = pref(a) ? 1 : 0;
      const pb = pref(b) ? 1 : 0;
      if (pa !== pb) return pb - pa;
      const sa = isStandIn(a.entry, dep.name);
      if (sa !== isStandIn(b.entry, dep.name)) return sa ? 1 : -1;
      if (virtuals) {
        const k = (b.entry.providerPriority ?? 0) - (a.entry.providerPriority ?? 0);
        if (k) return k;
      }
      const ra = a.entry.name === dep.name ? 1 : 0;
      const rb = b.entry.name === dep.name ? 1 : 0;
      if (ra !== rb) return rb - ra;
      const va = offeredVersion(a.entry, dep.name);
      const vb = offeredVersion(b.entry, dep.name);
      if (va && vb) {
        const c = compareVersions(vb, va);
        if (c) return c;
      } else if (va || vb) return va ? -1 : 1;
      const ka = a.entry.providerPriority ?? 0;
      const kb = b.entry.providerPriority ?? 0;
      if (ka !== kb) return kb - ka;
      if (a.entry.name === b.entry.name) {
        const c = compareVersions(b.entry.version, a.entry.version);
        if (c) return c;
      }
      if (a.repo !== b.repo) return a.repo - b.repo;
      if (a.entry.name !== b.entry.name) return a.entry.name < b.entry.name ? -1 : 1;
      return a.seq - b.seq;
    };
  }

  private conflictWith(c: Candidate): string | undefined {
    for (const { dep, by, owner } of this.s.conflicts) {
      if (owner !== c && satisfies(c.entry, dep))
        return `${this.describe(c)} conflicts with !${formatDependency({ ...dep, conflict: false })} required by ${by}`;
    }
    for (const n of realNames(c.entry)) {
      const other = this.s.taken.get(n);
      if (other && other !== c) return `${this.describe(c)} and ${this.describe(other)} both provide ${n}`;
    }
    for (const d of c.entry.depends) {
      const dep = parseDependency(d, `${this.describe(c)} D:`);
      if (!dep.conflict) continue;
      for (const s of this.s.selected.values()) {
        if (s !== c && satisfies(s.entry, dep))
          return `${this.describe(c)} conflicts with installed ${this.describe(s)} (!${dep.name})`;
      }
    }
    return undefined;
  }

  /**
   * The selected package that already meets `dep`, if any. With `realFirst` (a positive dependency
   * being resolved), a stand-in for `dep.name` does not count while a package that is not one could
   * be chosen instead: as in apk-tools, an unversioned provide without provider_priority is never a
   * reason to skip the real package (a toolchain bundle providing `xz` or `so:liblzma.so.5` must not
   * hide the xz this run built).
   */
  private satisfiedBySelected(
    dep: Dependency,
    except?: Candidate,
    realFirst?: { pin: string | undefined },
  ): Candidate | undefined {
    let standIn: Candidate | undefined;
    for (const c of this.byName.get(dep.name) ?? []) {
      if (c === except || this.s.selected.get(c.entry.name) !== c || !satisfies(c.entry, dep)) continue;
      if (realFirst && isStandIn(c.entry, dep.name)) {
        standIn ??= c;
        continue;
      }
      return c;
    }
    if (standIn && realFirst && this.realAvailable(dep, realFirst.pin)) return undefined;
    return standIn;
  }

  /** True when a package offering `dep.name` other than as a stand-in could still be selected. */
  private realAvailable(dep: Dependency, pin: string | undefined): boolean {
    return (this.byName.get(dep.name) ?? []).some(
      (c) =>
        !isStandIn(c.entry, dep.name) &&
        this.allowedByPin(c, dep, pin) &&
        satisfies(c.entry, dep) &&
        !this.s.selected.has(c.entry.name) &&
        this.conflictWith(c) === undefined,
    );
  }

  private unsatisfiable(
    chain: string[],
    dep: Dependency,
    pin: string | undefined,
    rejected: string[],
  ): never {
    const all = this.byName.get(dep.name) ?? [];
    if (all.length === 0) {
      throw new UnsatisfiableError(
        chain,
        `no package named or providing ${dep.name} in ${this.req.repositories.map((r) => r.name).join(', ') || 'any repository'}`,
      );
    }
    const sel = all.find((c) => this.s.selected.get(c.entry.name) === c);
    if (sel && dep.op) {
      throw new UnsatisfiableError(
        chain,
        `${this.describe(sel)} was already selected and does not satisfy ${formatDependency(dep)}`,
      );
    }
    if (rejected.length) throw new UnsatisfiableError(chain, rejected.slice(0, 3).join('; '));
    const unpinned = all.filter((c) => this.allowedByPin(c, dep, pin));
    if (unpinned.length === 0) {
      const tags = [...new Set(all.map((c) => `@${c.tag}`))].join(', ');
      throw new UnsatisfiableError(
        chain,
        `${dep.name} is only in pinned repositories (${tags}); ask for ${dep.name}@tag`,
      );
    }
    const byRepo = new Map<number, string[]>();
    for (const c of unpinned) {
      const v = offeredVersion(c.entry, dep.name);
      const label = c.entry.name === dep.name ? `${v}` : `${v ?? '(unversioned)'} (from ${c.entry.name})`;
      const l = byRepo.get(c.repo) ?? [];
      if (!l.includes(label)) l.push(label);
      byRepo.set(c.repo, l);
    }
    const parts = [...byRepo].map(([r, vs]) => {
      const sorted = vs.sort((a, b) => compareVersions(b.split(' ')[0]!, a.split(' ')[0]!));
      const shown =
        sorted.slice(0, 5).join(', ') + (sorted.length > 5 ? `, … (${sorted.length} versions)` : '');
      return `${shown} in ${this.req.repositories[r]!.name}`;
    });
    throw new UnsatisfiableError(chain, `only ${dep.name} ${parts.join('; ')}`);
  }

  /**
   * Candidates for a dependency, best first (those that also meet every constraint already declared
   * on the name go before the rest), with reasons for those that were ruled out.
   */
  private candidates(dep: Dependency, pin: string | undefined): { ok: Candidate[]; rejected: string[] } {
    const rejected: string[] = [];
    const ok: Candidate[] = [];
    for (const c of this.byName.get(dep.name) ?? []) {
      if (!this.allowedByPin(c, dep, pin) || !satisfies(c.entry, dep)) continue;
      const sel = this.s.selected.get(c.entry.name);
      if (sel && sel !== c) continue;
      const why = this.conflictWith(c);
      if (why) {
        rejected.push(why);
        continue;
      }
      ok.push(c);
    }
    ok.sort(
      this.rank(
        dep,
        pin,
        ok.some((c) => isVirtual(c.entry, dep.name)),
      ),
    );
    const known = this.s.pending.get(dep.name);
    if (known && (known.length > 1 || known[0] !== dep)) {
      const fits = (c: Candidate) =>
        known.every((k) => satisfies(c.entry, k) && (k.tag === undefined || k.tag === c.tag));
      return { ok: [...ok.filter(fits), ...ok.filter((c) => !fits(c))], rejected };
    }
    return { ok, rejected };
  }

  private optionCount(dep: Dependency, pin: string | undefined): number {
    let n = 0;
    for (const c of this.byName.get(dep.name) ?? [])
      if (this.allowedByPin(c, dep, pin) && satisfies(c.entry, dep)) n++;
    return n;
  }

  /** Orders sibling dependencies as apko does: fewest options first, then by name. */
  private ordered(deps: Dependency[], pin: string | undefined): Dependency[] {
    return deps
      .map((d) => ({ d, n: this.optionCount(d, pin) }))
      .sort((a, b) => a.n - b.n || (a.d.name < b.d.name ? -1 : a.d.name > b.d.name ? 1 : 0))
      .map((x) => x.d);
  }

  resolve(dep: Dependency, chain: string[], pin: string | undefined, by: string, owner?: Candidate): void {
    const here = [...chain, formatDependency(dep)];
    if (dep.conflict) {
      const plain = { ...dep, conflict: false };
      const bad = this.satisfiedBySelected(plain, owner);
      if (bad) throw new UnsatisfiableError(here, `conflicts with ${this.describe(bad)}, already selected`);
      this.pushTo(this.s.conflicts, owner ? { dep: plain, by, owner } : { dep: plain, by });
      return;
    }
    if (this.satisfiedBySelected(dep, undefined, { pin })) return;
    const { ok, rejected } = this.candidates(dep, pin);
    if (ok.length === 0) this.unsatisfiable(here, dep, pin, rejected);
    let first: UnsatisfiableError | undefined;
    for (const [i, c] of ok.entries()) {
      const last = i === ok.length - 1 || this.budget <= 0;
      const snap = last ? undefined : this.snapshot();
      // A stand-in passed over for the real package is already selected: falling back to it is free.
      if (this.s.selected.get(c.entry.name) === c) return;
      try {
        this.select(c, here, dep.tag ?? pin);
        return;
      } catch (e) {
        if (!(e instanceof UnsatisfiableError)) throw e;
        first ??= e;
        if (snap === undefined) throw first;
        // Undo this choice and try the next candidate.
        this.restore(snap);
        this.budget--;
      }
    }
  }

  private select(c: Candidate, chain: string[], pin: string | undefined): void {
    this.setIn(this.s.selected, c.entry.name, c);
    for (const n of realNames(c.entry)) this.setIn(this.s.taken, n, c);
    const own = this.describe(c);
    const deps = c.entry.depends
      .map((d) => parseDependency(d, `${own} D:`))
      .filter((d) => d.conflict || !satisfies(c.entry, d));
    for (const d of deps) if (!d.conflict) this.addPending(d);
    for (const d of this.ordered(deps, c.tag ?? pin)) this.resolve(d, chain, c.tag ?? pin, own, c);
    this.pushTo(this.s.order, c);
  }

  /** True when every `install_if` condition holds: `name` selected, `!name` not selected. */
  private installIfHolds(c: Candidate): boolean {
    return c.entry.installIf.every((t) => {
      const d = parseDependency(t, `${this.describe(c)} i:`);
      return d.conflict
        ? !this.satisfiedBySelected({ ...d, conflict: false })
        : !!this.satisfiedBySelected(d);
    });
  }

  /** Adds `install_if` packages whose conditions all hold, until nothing changes. */
  private installIf(): void {
    const failed = new Set<Candidate>();
    for (let changed = true; changed; ) {
      changed = false;
      for (const c of this.index.withInstallIf) {
        const name = c.entry.name;
        if (this.s.selected.has(name) || failed.has(c) || !this.installIfHolds(c)) continue;
        const { ok } = this.candidates({ name, conflict: false }, c.tag);
        for (const cand of ok) {
          if (cand.entry.installIf.length === 0 || failed.has(cand) || !this.installIfHolds(cand)) continue;
          const snap = this.snapshot();
          try {
            this.select(cand, [`(install_if ${cand.entry.installIf.join(' ')})`, name], cand.tag);
            changed = true;
            break;
          } catch (e) {
            if (!(e instanceof UnsatisfiableError)) throw e;
            // An install_if package that cannot be installed is left out (an older version may do).
            this.restore(snap);
            failed.add(cand);
          }
        }
      }
    }
  }

  run(): Resolution {
    const world = this.world.map((w) => parseDependency(w, 'world'));
    for (const d of world) if (!d.conflict) this.addPending(d);
    for (const d of this.ordered(world, undefined)) this.resolve(d, [], undefined, 'world');
    this.installIf();
    return {
      packages: standInsBeforeReal(this.s.order).map((c) => ({
        entry: c.entry,
        repository: c.repo,
        ...(c.tag !== undefined && { tag: c.tag }),
      })),
    };
  }
}

/**
 * The install order with every stand-in (a package providing, unversioned and without
 * provider_priority, a name another selected package offers by name or versioned provide) moved to just before the first real package it
 * stands in for, so that where both ship a file the real package, installed later, wins. Moves only
 * go earlier, so they always end at a package that stays put; a stand-in may then precede one of
 * its own dependencies.
 */
function standInsBeforeReal(order: readonly Candidate[]): Candidate[] {
  const pos = new Map(order.map((c, i) => [c, i]));
  // Name → the earliest selected package offering it for real.
  const byName = new Map<string, Candidate>();
  for (const c of order) for (const n of realNames(c.entry)) if (!byName.has(n)) byName.set(n, c);
  const before = new Map<Candidate, Candidate[]>();
  const moved = new Set<Candidate>();
  for (const [i, s] of order.entries()) {
    let first: Candidate | undefined;
    for (const p of s.entry.provides) {
      const pv = parseProvide(p);
      if (!isStandIn(s.entry, pv.name)) continue;
      const r = byName.get(pv.name);
      if (r && r !== s && pos.get(r)! < i && (!first || pos.get(r)! < pos.get(first)!)) first = r;
    }
    if (!first) continue;
    moved.add(s);
    const l = before.get(first);
    if (l) l.push(s);
    else before.set(first, [s]);
  }
  if (moved.size === 0) return [...order];
  const out: Candidate[] = [];
  const emit = (c: Candidate): void => {
    for (const s of before.get(c) ?? []) emit(s);
    out.push(c);
  };
  for (const c of order) if (!moved.has(c)) emit(c);
  return out;
}

/**
 * True when the package offers `name` only as an unversioned provide and has no provider_priority:
 * apk-tools never auto-selects such a provider (solver.c, is_provider_auto_selectable), so here it
 * is a stand-in, chosen only where nothing else offers the name.
 */
function isStandIn(e: IndexEntry, name: string): boolean {
  return !e.providerPriority && offeredVersion(e, name) === null;
}

/**
 * True when the package offers `name` as an unversioned provide with a provider_priority: a virtual
 * apk and apko select by that priority, its missing version tying with any other version.
 */
function isVirtual(e: IndexEntry, name: string): boolean {
  return !!e.providerPriority && offeredVersion(e, name) === null;
}

/** The names a package offers for real: its own and its versioned provides. */
export function realNames(e: { name: string; provides: readonly string[] }): string[] {
  const out = [e.name];
  for (const p of e.provides) {
    const pv = parseProvide(p);
    if (pv.version !== undefined) out.push(pv.name);
  }
  return out;
}

/** Resolves a world against repositories; throws UnsatisfiableError naming the dependency chain. */
export function resolveWorld(
  req: ResolveRequest | { index: ResolverIndex; world: readonly string[] },
): Resolution {
  const index = 'index' in req ? req.index : new ResolverIndex(req.repositories, req.arch);
  return new Resolver(index, req.world).run();
}
