import type { MemoData } from './plan-memo.js';

/**
 * A hand-written check of a plan memo as JSON.parse gives it, run before the memo's zod schema
 * (plan-memo.ts): zod over Wolfi's 6,797 builds took ~0.18 s of a run's start, this a few ms. It
 * is at least as strict as the schema: it answers only for a memo the schema accepts as it is
 * (no key the schema would strip, nothing it would refuse), with the same value the schema gives
 * (the loose objects keep their other keys, as the schema keeps them), and undefined for anything
 * else, which then goes through the schema. So the schema stays the one definition of the memo.
 */

type Obj = Record<string, unknown>;

/** A plain object from JSON, without a `__proto__` key (left to the schema). */
const isObj = (v: unknown): v is Obj =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !Object.hasOwn(v, '__proto__');
const isStr = (v: unknown): v is string => typeof v === 'string';
/** Every element (holes included: `every` would skip them, the schema refuses them). */
function all(v: unknown, ok: (x: unknown) => boolean): v is unknown[] {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!ok(v[i])) return false;
  return true;
}
const isStrings = (v: unknown): v is string[] => all(v, isStr);
const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

const UP_TO_DATE_KEYS = 2;

function isBuild(b: unknown): boolean {
  if (!isObj(b)) return false;
  return (
    (b['id'] === undefined || isStr(b['id'])) &&
    isStr(b['name']) &&
    isStr(b['arch']) &&
    (b['deps'] === undefined || all(b['deps'], isIndex)) &&
    (b['depIds'] === undefined || isStrings(b['depIds'])) &&
    Number.isFinite(b['cost']) &&
    isStrings(b['reasons']) &&
    isStr(b['version']) &&
    isStr(b['configFile']) &&
    isStr(b['input']) &&
    isStrings(b['packages']) &&
    (b['provides'] === undefined || isStrings(b['provides'])) &&
    (b['needs'] === undefined || isStrings(b['needs'])) &&
    (b['cycle'] === undefined || isIndex(b['cycle']))
  );
}

/** `runtime`: arch → name → names. */
function isRuntime(v: unknown): boolean {
  if (!isObj(v)) return false;
  for (const k in v) {
    const names = v[k];
    if (!isObj(names)) return false;
    for (const n in names) if (!isStrings(names[n])) return false;
  }
  return true;
}

/** The memo (of memo format `format`) as the schema would give it, or undefined when the schema must decide. */
export function fastMemo(v: unknown, format: string): MemoData | undefined {
  if (!isObj(v)) return undefined;
  for (const k in v) if (k !== 'format' && k !== 'key' && k !== 'plan') return undefined;
  const { key, plan } = v;
  if (v['format'] !== format || !isStr(key) || !isObj(plan)) return undefined;
  const { root, builds, upToDate, problems, cycles, excluded, runtime } = plan;
  if (
    !isStr(root) ||
    !all(builds, isBuild) ||
    !all(
      upToDate,
      (u) => isObj(u) && Object.keys(u).length === UP_TO_DATE_KEYS && isStr(u['id']) && isStr(u['version']),
    ) ||
    !isStrings(problems) ||
    !isStrings(cycles) ||
    !all(excluded, (e) => Array.isArray(e) && e.length === 2 && isStr(e[0]) && isStr(e[1])) ||
    (runtime !== undefined && !isRuntime(runtime))
  )
    return undefined;
  return v as MemoData;
}
