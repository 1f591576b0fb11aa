/**
 * YAML text → the few fields the graph needs. Runs inside the parse workers as well as in-process,
 * so it imports nothing but js-yaml and types (worker threads load it without the TS toolchain).
 *
 * The FAILSAFE schema keeps every scalar a string: range keys such as `3.10` must not become the
 * number 3.1, and versions such as `1.20` must not lose their trailing zero.
 */
import { FAILSAFE_SCHEMA, load } from 'js-yaml';
import type {
  ExtractResult,
  RawConfig,
  RawDeps,
  RawPipeline,
  RawSubpackage,
  RawUses,
  RawVarTransform,
} from './types.js';

type Y = string | Y[] | { [k: string]: Y } | null | undefined;
type YMap = { [k: string]: Y };

class ShapeError extends Error {}

const isMap = (v: Y): v is YMap => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(v: Y, where: string): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'string') return v;
  throw new ShapeError(`${where}: expected a string, got ${Array.isArray(v) ? 'a list' : 'a mapping'}`);
}

function map(v: Y, where: string): YMap {
  if (v === null || v === undefined) return {};
  if (isMap(v)) return v;
  throw new ShapeError(`${where}: expected a mapping, got ${typeof v === 'string' ? 'a string' : 'a list'}`);
}

function list(v: Y, where: string): Y[] {
  if (v === null || v === undefined) return [];
  if (Array.isArray(v)) return v;
  throw new ShapeError(`${where}: expected a list, got ${typeof v === 'string' ? 'a string' : 'a mapping'}`);
}

function strList(v: Y, where: string): string[] {
  const out: string[] = [];
  list(v, where).forEach((x, i) => {
    const s = str(x, `${where}[${i}]`);
    if (s !== undefined && s !== '') out.push(s);
  });
  return out;
}

function strMap(v: Y, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(map(v, where))) out[k] = str(x, `${where}.${k}`) ?? '';
  return out;
}

function deps(v: Y, where: string): RawDeps {
  const m = map(v, where);
  const d: RawDeps = { provides: strList(m['provides'], `${where}.provides`) };
  const p = str(m['provider-priority'], `${where}.provider-priority`);
  if (p !== undefined) d.providerPriority = p;
  return d;
}

/** Every `uses:` in a step list, nested `pipeline:` lists included; a parent's `if:` applies to its children. */
function collectUses(v: Y, where: string, cond: string | undefined, out: RawUses[]): RawUses[] {
  list(v, where).forEach((step, i) => {
    const w = `${where}[${i}]`;
    const m = map(step, w);
    const own = str(m['if'], `${w}.if`);
    const c = own && cond ? `(${cond}) && (${own})` : (own ?? cond);
    const uses = str(m['uses'], `${w}.uses`);
    if (uses) {
      const u: RawUses = { uses, with: strMap(m['with'], `${w}.with`) };
      if (c) u.if = c;
      out.push(u);
    }
    if (m['pipeline'] !== undefined) collectUses(m['pipeline'], `${w}.pipeline`, c, out);
  });
  return out;
}

function extractConfig(doc: YMap, file: string): RawConfig {
  const pkg = map(doc['package'], 'package');
  const name = str(pkg['name'], 'package.name');
  if (!name) throw new ShapeError('package.name: missing');
  const version = str(pkg['version'], 'package.version');
  if (!version) throw new ShapeError('package.version: missing');
  const res = map(pkg['resources'], 'package.resources');
  const resources: RawConfig['resources'] = {};
  const cpu = str(res['cpu'], 'package.resources.cpu');
  const memory = str(res['memory'], 'package.resources.memory');
  if (cpu !== undefined) resources.cpu = cpu;
  if (memory !== undefined) resources.memory = memory;

  const data: RawConfig['data'] = {};
  list(doc['data'], 'data').forEach((d, i) => {
    const m = map(d, `data[${i}]`);
    const n = str(m['name'], `data[${i}].name`);
    if (!n) throw new ShapeError(`data[${i}].name: missing`);
    data[n] = strMap(m['items'], `data[${i}].items`);
  });

  const varTransforms: RawVarTransform[] = list(doc['var-transforms'], 'var-transforms').map((t, i) => {
    const w = `var-transforms[${i}]`;
    const m = map(t, w);
    const to = str(m['to'], `${w}.to`);
    if (!to) throw new ShapeError(`${w}.to: missing`);
    return {
      from: str(m['from'], `${w}.from`) ?? '',
      match: str(m['match'], `${w}.match`) ?? '',
      replace: str(m['replace'], `${w}.replace`) ?? '',
      to,
    };
  });

  const env = map(doc['environment'], 'environment');
  const contents = map(env['contents'], 'environment.contents');

  const subpackages: RawSubpackage[] = list(doc['subpackages'], 'subpackages').map((s, i) => {
    const w = `subpackages[${i}]`;
    const m = map(s, w);
    const sn = str(m['name'], `${w}.name`);
    if (!sn) throw new ShapeError(`${w}.name: missing`);
    const sp: RawSubpackage = {
      name: sn,
      deps: deps(m['dependencies'], `${w}.dependencies`),
      uses: collectUses(m['pipeline'], `${w}.pipeline`, undefined, []),
    };
    const range = str(m['range'], `${w}.range`);
    if (range) {
      if (!(range in data)) throw new ShapeError(`${w}.range: no data named "${range}"`);
      sp.range = range;
    }
    const cond = str(m['if'], `${w}.if`);
    if (cond) sp.if = cond;
    return sp;
  });

  const update = map(doc['update'], 'update');
  return {
    file,
    name,
    version,
    epoch: str(pkg['epoch'], 'package.epoch') ?? '0',
    deps: deps(pkg['dependencies'], 'package.dependencies'),
    targetArchitecture: strList(pkg['target-architecture'], 'package.target-architecture'),
    resources,
    updateShared: str(update['shared'], 'update.shared') === 'true',
    vars: strMap(doc['vars'], 'vars'),
    varTransforms,
    data,
    envPackages: strList(contents['packages'], 'environment.contents.packages'),
    uses: collectUses(doc['pipeline'], 'pipeline', undefined, []),
    subpackages,
  };
}

function extractPipeline(doc: YMap, file: string, name: string): RawPipeline {
  const inputs: RawPipeline['inputs'] = {};
  for (const [k, v] of Object.entries(map(doc['inputs'], 'inputs'))) {
    const d = str(map(v, `inputs.${k}`)['default'], `inputs.${k}.default`);
    inputs[k] = d === undefined ? {} : { default: d };
  }
  const needs = map(doc['needs'], 'needs');
  return {
    name,
    file,
    inputs,
    needs: strList(needs['packages'], 'needs.packages'),
    uses: collectUses(doc['pipeline'], 'pipeline', undefined, []),
  };
}

interface YamlErrorLike {
  name?: string;
  reason?: string;
  mark?: { line?: number };
  message?: string;
}

/** Parses one file. `pipelineName` set means a repository pipeline, else a candidate config. */
export function extractFile(text: string, file: string, pipelineName?: string): ExtractResult {
  let doc: Y;
  try {
    doc = load(text, { schema: FAILSAFE_SCHEMA, filename: file }) as Y;
  } catch (e) {
    const err = e as YamlErrorLike;
    const line = err.mark?.line;
    return {
      kind: 'error',
      problem: {
        file,
        ...(line !== undefined ? { line: line + 1 } : {}),
        message: `invalid YAML: ${err.reason ?? err.message ?? String(e)}`,
      },
    };
  }
  try {
    if (pipelineName !== undefined) {
      return { kind: 'pipeline', pipeline: extractPipeline(isMap(doc) ? doc : {}, file, pipelineName) };
    }
    if (!isMap(doc) || !('package' in doc)) return { kind: 'skip' };
    return { kind: 'config', config: extractConfig(doc, file) };
  } catch (e) {
    if (e instanceof ShapeError) {
      return { kind: 'error', problem: { file, line: lineOf(text, e.message), message: e.message } };
    }
    throw e;
  }
}

/** Best-effort line of the field a shape error names (its last path segment), for the report. */
function lineOf(text: string, message: string): number | undefined {
  const path = message.slice(0, message.indexOf(':'));
  const key = path
    .split('.')
    .pop()
    ?.replace(/\[\d+\]$/, '');
  if (!key) return undefined;
  const re = new RegExp(`^\\s*-?\\s*${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:`, 'm');
  const m = re.exec(text);
  if (!m) return undefined;
  let line = 1;
  for (let i = 0; i < m.index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}
