/**
 * The plan memo: a run's plan is a pure function of the repository's files (their content keys
 * and scan problems), the published indexes, the recorded durations, the options, and the code
 * that plans. When all of them are as last time, the plan is read back instead of building and
 * planning each arch's graph again: a no-op run then costs little more than the scan.
 *
 * The key includes a digest of the planner's own code (this package's planning module and the
 * directories of @melange2/depgraph, @melange2/melange and @melange2/apk), so a changed planner
 * never reuses an old plan. One file per repository under `<cacheDir>/plans/`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { fastMemo } from './plan-memo-check.js';
import type { RunBuild, RunPlan } from './plan-run.js';

/**
 * Bump when the memo's shape or the plan's meaning changes. 3: builds without their id (it is
 * `name@arch`) and with dependencies as indexes into the builds (about 40 % less to read and parse).
 */
const MEMO_FORMAT = 'plan-memo-3';

/** Everything the plan depends on besides the code. */
export interface MemoInputs {
  readonly root: string;
  readonly arches: readonly string[];
  readonly withDependents: boolean;
  readonly published: ReadonlyMap<string, Buffer | undefined>;
  readonly durations: ReadonlyMap<string, number> | undefined;
  /** Every file's content key (configs and pipelines), as the scan gives them. */
  readonly fileKeys: ReadonlyMap<string, string>;
  /** The scan's problems, formatted. */
  readonly problems: readonly string[];
}

// Loose: a field added to the plan later comes back as it was written, never silently dropped.
// `id` only when it is not `name@arch`; `deps` as indexes into the builds, or `depIds` as the ids
// when one of them is not a build of the plan.
const buildSchema = z.looseObject({
  id: z.string().optional(),
  name: z.string(),
  arch: z.string(),
  deps: z.array(z.number().int().nonnegative()).optional(),
  depIds: z.array(z.string()).optional(),
  cost: z.number(),
  reasons: z.array(z.string()),
  version: z.string(),
  configFile: z.string(),
  input: z.string(),
  packages: z.array(z.string()),
  provides: z.array(z.string()).optional(),
  needs: z.array(z.string()).optional(),
  cycle: z.number().int().nonnegative().optional(),
});

const memoSchema = z.object({
  format: z.literal(MEMO_FORMAT),
  key: z.string(),
  plan: z.looseObject({
    root: z.string(),
    builds: z.array(buildSchema),
    upToDate: z.array(z.object({ id: z.string(), version: z.string() })),
    problems: z.array(z.string()),
    cycles: z.array(z.string()),
    excluded: z.array(z.tuple([z.string(), z.string()])),
    runtime: z.record(z.string(), z.record(z.string(), z.array(z.string()))).optional(),
  }),
});

/** A memo as its schema gives it. */
export type MemoData = z.infer<typeof memoSchema>;

/** The memo in `data` (parsed JSON) by its schema alone; undefined when it is not one. */
export function memoBySchema(data: unknown): MemoData | undefined {
  const r = memoSchema.safeParse(data);
  return r.success ? r.data : undefined;
}

/** Source files of a package directory (not declarations or maps), recursively, sorted. */
function codeFiles(dir: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) codeFiles(p, out);
    else if (/\.[cm]?[jt]s$/.test(e.name) && !/\.d\.[cm]?ts$/.test(e.name)) out.push(p);
  }
}

let codeDigest: string | null | undefined;

/**
 * A digest of the code that plans (computed once per process), or null when that code cannot be
 * found as files (a bundle): then there is no memo.
 */
function plannerCode(): string | null {
  if (codeDigest !== undefined) return codeDigest;
  try {
    const h = createHash('sha1');
    h.update(readFileSync(fileURLToPath(new URL(`./plan-run${extOf()}`, import.meta.url))));
    for (const pkg of ['@melange2/depgraph', '@melange2/melange', '@melange2/apk']) {
      const files: string[] = [];
      codeFiles(dirname(fileURLToPath(import.meta.resolve(pkg))), files);
      for (const f of files.sort()) h.update(`${f}\0`).update(readFileSync(f)).update('\0');
    }
    codeDigest = h.digest('base64');
  } catch {
    codeDigest = null;
  }
  return codeDigest;
}

/** This module's own extension: `.js` when compiled, `.ts` when run from source. */
function extOf(): string {
  return import.meta.url.endsWith('.ts') ? '.ts' : '.js';
}

/** The memo key of a plan's inputs; undefined when the planner's code cannot be digested. */
export function memoKey(i: MemoInputs): string | undefined {
  const code = plannerCode();
  if (code === null) return undefined;
  // The parts joined and hashed at once (one hash update per part cost ~0.1 s for Wolfi with
  // recorded durations); the same bytes as part by part, so the same key.
  const parts: string[] = [
    MEMO_FORMAT,
    code,
    i.root,
    i.arches.join(','),
    i.withDependents ? 'dependents' : '',
  ];
  // Per arch of the run: an arch missing from `published` is as unpublished as one mapped to
  // undefined (the same plan, so the same key).
  for (const arch of i.arches) {
    const bytes = i.published.get(arch);
    parts.push(`${arch}=${bytes ? createHash('sha1').update(bytes).digest('base64') : '-'}`);
  }
  parts.push('durations');
  for (const [id, ms] of [...(i.durations ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    parts.push(`${id}=${ms}`);
  parts.push('files');
  for (const [f, k] of i.fileKeys) parts.push(`${f}=${k}`);
  parts.push('problems');
  for (const p of i.problems) parts.push(p);
  parts.push('');
  return createHash('sha1').update(parts.join('\0')).digest('base64');
}

export function memoFile(cacheDir: string, root: string): string {
  return join(cacheDir, 'plans', `${createHash('sha1').update(root).digest('hex').slice(0, 16)}.json`);
}

/** The memoized plan for `key`, or undefined (absent, another key, or not a memo). */
export function readPlanMemo(file: string, key: string): RunPlan | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  // Another key (or another format): not read any further.
  const head = data as { format?: unknown; key?: unknown } | null;
  if (typeof head !== 'object' || head === null || head.format !== MEMO_FORMAT || head.key !== key)
    return undefined;
  const memo = fastMemo(data, MEMO_FORMAT) ?? memoBySchema(data);
  if (!memo) return undefined;
  const p = memo.plan;
  // Dependencies share their build's id string, as a fresh plan's do, so the scheduler hashes
  // each id once.
  const ids = p.builds.map((b) => b.id ?? `${b.name}@${b.arch}`);
  const byId = new Map(ids.map((id) => [id, id]));
  const builds: RunBuild[] = [];
  for (let i = 0; i < p.builds.length; i++) {
    const { deps, depIds, ...b } = p.builds[i]!;
    const named = deps?.map((j) => ids[j]) ?? depIds?.map((d) => byId.get(d) ?? d) ?? [];
    // An index past the builds: not a memo this code wrote.
    if (named.includes(undefined)) return undefined;
    builds.push({ ...b, id: ids[i]!, deps: named as string[] });
  }
  return { ...p, builds, excluded: new Map(p.excluded) };
}

/** A build as the memo holds it (see `buildSchema`). */
function compact(b: RunBuild, at: ReadonlyMap<string, number>): Record<string, unknown> {
  const { id, deps, ...rest } = b;
  const idx = deps.map((d) => at.get(d));
  return {
    ...rest,
    ...(id === `${b.name}@${b.arch}` ? {} : { id }),
    ...(idx.includes(undefined) ? { depIds: deps } : { deps: idx }),
  };
}

/** Atomic (temp file + rename); a cache directory that cannot be written only costs speed. */
export function writePlanMemo(file: string, key: string, plan: RunPlan): void {
  try {
    const at = new Map(plan.builds.map((b, i) => [b.id, i]));
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(
      tmp,
      JSON.stringify({
        format: MEMO_FORMAT,
        key,
        plan: {
          ...plan,
          builds: plan.builds.map((b) => compact(b, at)),
          excluded: [...plan.excluded],
        },
      }),
    );
    renameSync(tmp, file);
  } catch {
    // Read-only or full: the next run plans again.
  }
}
