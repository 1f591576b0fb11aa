import type { AgentEvent, BuildJob, BuildReport, StagedApk } from './messages.js';

/**
 * Hand-written checks of the messages every build sends (its job, its `started` event, a
 * succeeded report, heartbeats), run before the zod schemas of messages.ts. Each is at least as
 * strict as its schema: it returns a fresh copy only of a message the schema accepts as it is
 * (no key the schema would strip, nothing it would refuse), and undefined for anything else,
 * which then goes through the schema (and is refused there with its reasons). So every message
 * is still checked, and the schemas stay the one definition of the protocol.
 */

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** `name` of messages.ts: 1 to 1024 characters. */
const isName = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 1024;
/** `count`: a non-negative safe integer. */
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isNonNegative = (v: unknown): v is number => Number.isFinite(v) && (v as number) >= 0;
const HEX64 = /^[0-9a-f]{64}$/;
const isHex64 = (v: unknown): v is string => typeof v === 'string' && HEX64.test(v);
const GENERATION = /^[A-Za-z0-9-]{1,64}$/;

/** Whether every key of `o` is one of `allowed` (the strict schemas refuse others; the loose ones strip them). */
function onlyKeys(o: Obj, allowed: ReadonlySet<string>): boolean {
  for (const k in o) if (!allowed.has(k)) return false;
  return true;
}

const JOB_KEYS = new Set([
  'runId',
  'id',
  'name',
  'arch',
  'version',
  'configFile',
  'attempt',
  'token',
  'generation',
  'cost',
  'awaiting',
]);

export function fastJob(v: unknown): BuildJob | undefined {
  if (!isObj(v) || !onlyKeys(v, JOB_KEYS)) return undefined;
  const { runId, id, name, arch, version, configFile, attempt, token, generation, cost, awaiting } = v;
  if (
    !isName(runId) ||
    !isName(id) ||
    !isName(name) ||
    !isName(arch) ||
    !isName(version) ||
    !isName(configFile) ||
    !isCount(attempt) ||
    !isHex64(token)
  )
    return undefined;
  if (generation !== undefined && !(typeof generation === 'string' && GENERATION.test(generation)))
    return undefined;
  if (cost !== undefined && !isNonNegative(cost)) return undefined;
  if (awaiting !== undefined) {
    if (!Array.isArray(awaiting) || awaiting.length < 1 || awaiting.length > 1024) return undefined;
    for (const a of awaiting) if (typeof a !== 'string' || a.length < 1 || a.length > 256) return undefined;
  }
  return {
    runId,
    id,
    name,
    arch,
    version,
    configFile,
    attempt,
    token,
    ...(generation !== undefined ? { generation } : {}),
    ...(cost !== undefined ? { cost } : {}),
    ...(awaiting !== undefined ? { awaiting: [...(awaiting as string[])] } : {}),
  };
}

const STARTED_KEYS = new Set(['type', 'runId', 'id', 'attempt', 'token', 'agent']);
const HEARTBEAT_KEYS = new Set(['type', 'agent', 'arch', 'slots', 'busy', 'alive', 'prefetch']);

export function fastEvent(v: unknown): AgentEvent | undefined {
  if (!isObj(v)) return undefined;
  if (v['type'] === 'started') {
    if (!onlyKeys(v, STARTED_KEYS)) return undefined;
    const { runId, id, attempt, token, agent } = v;
    if (!isName(runId) || !isName(id) || !isCount(attempt) || !isHex64(token) || !isName(agent))
      return undefined;
    return { type: 'started', runId, id, attempt, token, agent };
  }
  if (v['type'] === 'heartbeat') {
    if (!onlyKeys(v, HEARTBEAT_KEYS)) return undefined;
    const { agent, arch, slots, busy, alive, prefetch } = v;
    if (!isName(agent) || !isName(arch) || !isCount(slots) || !isCount(busy) || typeof alive !== 'boolean')
      return undefined;
    if (prefetch !== undefined && !isCount(prefetch)) return undefined;
    return {
      type: 'heartbeat',
      agent,
      arch,
      slots,
      busy,
      alive,
      ...(prefetch !== undefined ? { prefetch } : {}),
    };
  }
  return undefined;
}

const REPORT_KEYS = new Set(['runId', 'id', 'attempt', 'token', 'agent', 'durationMs', 'outcome']);
const SUCCEEDED_KEYS = new Set(['kind', 'apks', 'steps']);
const STEPS_KEYS = new Set(['total', 'cached']);
const APK_KEYS = new Set(['filename', 'key', 'sha256', 'size']);

function fastApk(v: unknown): StagedApk | undefined {
  if (!isObj(v) || !onlyKeys(v, APK_KEYS)) return undefined;
  const { filename, key, sha256, size } = v;
  if (!isName(filename) || !isName(key) || !isHex64(sha256) || !isCount(size)) return undefined;
  return { filename, key, sha256, size };
}

/** A report of a succeeded build without stage times (others go through the schema). */
export function fastReport(v: unknown): BuildReport | undefined {
  if (!isObj(v) || !onlyKeys(v, REPORT_KEYS)) return undefined;
  const { runId, id, attempt, token, agent, durationMs, outcome } = v;
  if (
    !isName(runId) ||
    !isName(id) ||
    !isCount(attempt) ||
    !isHex64(token) ||
    !isName(agent) ||
    !isNonNegative(durationMs)
  )
    return undefined;
  if (!isObj(outcome) || outcome['kind'] !== 'succeeded' || !onlyKeys(outcome, SUCCEEDED_KEYS))
    return undefined;
  const { apks, steps } = outcome;
  if (!Array.isArray(apks) || apks.length > 4096) return undefined;
  if (!isObj(steps) || !onlyKeys(steps, STEPS_KEYS) || !isCount(steps['total']) || !isCount(steps['cached']))
    return undefined;
  const staged: StagedApk[] = [];
  for (const a of apks) {
    const s = fastApk(a);
    if (!s) return undefined;
    staged.push(s);
  }
  return {
    runId,
    id,
    attempt,
    token,
    agent,
    durationMs,
    outcome: { kind: 'succeeded', apks: staged, steps: { total: steps['total'], cached: steps['cached'] } },
  };
}
