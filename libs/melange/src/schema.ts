import type { ConfigErrorCode, YamlPath } from './diagnostics.js';
import { isMapping, type YamlValue } from './yaml.js';

/**
 * The melange schema as data, and a decoder that checks a loaded YAML tree against it. Wrong
 * types and missing required fields are errors; unknown keys are warnings (melange rejects
 * them; we keep going so one typo does not stop a whole-repository compile).
 */
export type Schema =
  | { readonly k: 'str' }
  | { readonly k: 'int'; readonly min?: number }
  | { readonly k: 'bool' }
  | { readonly k: 'list'; readonly of: Schema }
  | { readonly k: 'dict'; readonly of: Schema }
  | {
      readonly k: 'obj';
      readonly fields: Readonly<Record<string, Schema>>;
      readonly required?: readonly string[];
      /** Keys not in `fields` are skipped unread (a narrowed schema), not reported. */
      readonly open?: boolean;
    }
  | { readonly k: 'any' }
  | { readonly k: 'lazy'; readonly get: () => Schema };

export interface Finding {
  readonly severity: 'error' | 'warning';
  readonly path: YamlPath;
  readonly message: string;
  /** Report at the key rather than the value (unknown keys). */
  readonly atKey?: boolean;
  /** The error's own code, when it is not plain `CONFIG_INVALID`. */
  readonly code?: ConfigErrorCode;
}

const str: Schema = { k: 'str' };
const int: Schema = { k: 'int', min: 0 };
const bool: Schema = { k: 'bool' };
const strList: Schema = { k: 'list', of: str };
const strDict: Schema = { k: 'dict', of: str };
const any: Schema = { k: 'any' };
const obj = (fields: Record<string, Schema>, required?: string[]): Schema =>
  required ? { k: 'obj', fields, required } : { k: 'obj', fields };
const list = (of: Schema): Schema => ({ k: 'list', of });
const dict = (of: Schema): Schema => ({ k: 'dict', of });

const input = obj({ description: str, default: str, required: bool });

export const pipelineSchema: Schema = obj({
  if: str,
  name: str,
  uses: str,
  with: strDict,
  runs: str,
  pipeline: { k: 'lazy', get: () => list(pipelineSchema) },
  inputs: dict(input),
  needs: obj({ packages: strList }),
  label: str,
  assertions: obj({ 'required-steps': int }),
  'working-directory': str,
  environment: strDict,
  description: str,
});

const dependencies = obj({
  runtime: strList,
  provides: strList,
  replaces: strList,
  'provider-priority': str,
  'replaces-priority': str,
});
const packageOptions = obj({
  'no-provides': bool,
  'no-depends': bool,
  'no-commands': bool,
  'no-versioned-shlib-deps': bool,
});
const scriptlets = obj({
  trigger: obj({ script: str, paths: strList }),
  'pre-install': str,
  'post-install': str,
  'pre-deinstall': str,
  'post-deinstall': str,
  'pre-upgrade': str,
  'post-upgrade': str,
});
const checks = obj({ enabled: strList, disabled: strList });
const setcap = list(obj({ path: str, add: strDict, reason: str }));
const resources = obj({ cpu: str, cpumodel: str, memory: str, disk: str });

const environmentSchema: Schema = obj({
  contents: obj({
    repositories: strList,
    build_repositories: strList,
    keyring: strList,
    packages: strList,
    baseimage: any,
  }),
  accounts: obj({
    users: list(obj({ username: str, uid: int, gid: int, shell: str, homedir: str })),
    groups: list(obj({ groupname: str, gid: int, members: strList })),
    'run-as': str,
  }),
  environment: strDict,
  archs: strList,
  entrypoint: any,
  cmd: str,
  'stop-signal': str,
  'work-dir': str,
  paths: any,
  'vcs-url': str,
  annotations: strDict,
  include: str,
  volumes: strList,
});

const test = obj({ environment: environmentSchema, pipeline: list(pipelineSchema) });

export const configSchema: Schema = obj(
  {
    package: obj(
      {
        name: str,
        version: str,
        epoch: int,
        description: str,
        annotations: strDict,
        url: str,
        commit: str,
        'target-architecture': strList,
        copyright: list(
          obj({
            paths: strList,
            attestation: str,
            license: str,
            'license-path': str,
            'detection-override': str,
          }),
        ),
        dependencies,
        options: packageOptions,
        scriptlets,
        checks,
        cpe: obj({
          part: str,
          vendor: str,
          product: str,
          edition: str,
          language: str,
          sw_edition: str,
          target_sw: str,
          target_hw: str,
          other: str,
        }),
        setcap,
        timeout: str,
        resources,
        'test-resources': resources,
      },
      ['name', 'version'],
    ),
    environment: environmentSchema,
    capabilities: obj({ add: strList, drop: strList }),
    pipeline: list(pipelineSchema),
    subpackages: list(
      obj(
        {
          if: str,
          range: str,
          name: str,
          pipeline: list(pipelineSchema),
          dependencies,
          options: packageOptions,
          scriptlets,
          description: str,
          annotations: strDict,
          url: str,
          commit: str,
          checks,
          test,
          setcap,
        },
        ['name'],
      ),
    ),
    data: list(obj({ name: str, items: strDict }, ['name'])),
    update: any,
    vars: strDict,
    'var-transforms': list(
      obj({ from: str, match: str, replace: str, to: str }, ['from', 'match', 'replace', 'to']),
    ),
    options: dict(
      obj({
        vars: strDict,
        environment: obj({ contents: obj({ packages: obj({ add: strList, remove: strList }) }) }),
      }),
    ),
    test,
  },
  ['package'],
);

/** Which keys of an object schema to keep, nested; `true` keeps a value's whole schema. */
type Keep = true | { readonly [key: string]: Keep };

/** `schema` narrowed to the keys in `keep`; every other key is skipped unread. */
function narrow(schema: Schema, keep: Keep): Schema {
  if (keep === true) return schema;
  switch (schema.k) {
    case 'lazy': {
      let got: Schema | undefined;
      return { k: 'lazy', get: () => (got ??= narrow(schema.get(), keep)) };
    }
    case 'list':
      return { k: 'list', of: narrow(schema.of, keep) };
    case 'dict':
      return { k: 'dict', of: narrow(schema.of, keep) };
    case 'obj': {
      const fields: Record<string, Schema> = {};
      for (const [k, sub] of Object.entries(keep)) {
        const f = schema.fields[k];
        if (f) fields[k] = narrow(f, sub);
      }
      const required = schema.required?.filter((r) => r in keep);
      return { k: 'obj', fields, ...(required?.length ? { required } : {}), open: true };
    }
    default:
      return schema;
  }
}

const STEP: { [key: string]: Keep } = { if: true, uses: true, with: true, inputs: true, needs: true };
STEP['pipeline'] = STEP;

/**
 * What a build graph reads of a config (see `parseGraphConfig`): the package's identity and
 * dependencies, environment packages, steps without their scripts, subpackages, ranges and
 * variables. Decoding skips the rest (scripts, tests, copyright, …) unread.
 */
export const graphConfigSchema: Schema = narrow(configSchema, {
  package: {
    name: true,
    version: true,
    epoch: true,
    description: true,
    'target-architecture': true,
    dependencies: true,
    resources: true,
  },
  environment: { contents: { packages: true } },
  pipeline: STEP,
  subpackages: { if: true, range: true, name: true, pipeline: STEP, dependencies: true },
  data: true,
  update: true,
  vars: true,
  'var-transforms': true,
  options: { vars: true },
});

const describe = (v: YamlValue): string =>
  v === null ? 'null' : Array.isArray(v) ? 'a sequence' : typeof v === 'object' ? 'a mapping' : `"${v}"`;

const BOOLS: Readonly<Record<string, boolean>> = {
  true: true,
  True: true,
  TRUE: true,
  false: false,
  False: false,
  FALSE: false,
};

/**
 * Decodes `v` against `schema`, appending findings. Returns undefined for null/absent values (Go's
 * zero value), so optional fields stay absent.
 */
export function decode(v: YamlValue, schema: Schema, path: YamlPath, out: Finding[]): unknown {
  return decodeAt(v, schema, [...path], out);
}

/** Records a value of the wrong type; decodes it as absent. */
function mismatch(out: Finding[], path: readonly (string | number)[], message: string): undefined {
  out.push({ severity: 'error', path: path.slice(), message });
  return undefined;
}

// One mutable path for the whole walk, copied only into findings: allocating a path per node
// was a third of the cost of decoding a repository.
function decodeAt(v: YamlValue, schema: Schema, path: (string | number)[], out: Finding[]): unknown {
  if (schema.k === 'lazy') return decodeAt(v, schema.get(), path, out);
  if (v === null) return undefined;
  switch (schema.k) {
    case 'any':
      return v;
    case 'str':
      if (typeof v === 'string') return v;
      return mismatch(out, path, `expected a string, got ${describe(v)}`);
    case 'int': {
      if (typeof v === 'string' && /^[-+]?\d+$/.test(v)) {
        const n = Number(v);
        if (schema.min !== undefined && n < schema.min) {
          return mismatch(out, path, `expected an integer >= ${schema.min}, got ${v}`);
        }
        // Past 2^53 a number is no longer the integer written (1e+26 as an epoch).
        if (!Number.isSafeInteger(n))
          return mismatch(out, path, `integer ${v} is too large (at most ${Number.MAX_SAFE_INTEGER})`);
        return n;
      }
      return mismatch(out, path, `expected an integer, got ${describe(v)}`);
    }
    case 'bool':
      if (typeof v === 'string' && v in BOOLS) return BOOLS[v];
      return mismatch(out, path, `expected true or false, got ${describe(v)}`);
    case 'list': {
      if (!Array.isArray(v)) {
        return mismatch(out, path, `expected a sequence, got ${describe(v)}`);
      }
      const res: unknown[] = [];
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        const d = decodeAt(v[i]!, schema.of, path, out);
        path.pop();
        // A null item decodes to the zero value, as in Go.
        res.push(d ?? zero(schema.of));
      }
      return res;
    }
    case 'dict': {
      if (!isMapping(v)) {
        return mismatch(out, path, `expected a mapping, got ${describe(v)}`);
      }
      const res: Record<string, unknown> = {};
      for (const key in v) {
        path.push(key);
        const d = decodeAt(v[key]!, schema.of, path, out);
        path.pop();
        res[key] = d ?? zero(schema.of);
      }
      return res;
    }
    case 'obj': {
      if (!isMapping(v)) {
        return mismatch(out, path, `expected a mapping, got ${describe(v)}`);
      }
      const res: Record<string, unknown> = {};
      for (const key in v) {
        const fs = Object.hasOwn(schema.fields, key) ? schema.fields[key] : undefined;
        if (!fs && schema.open) continue;
        path.push(key);
        if (!fs) {
          out.push({
            severity: 'warning',
            path: path.slice(),
            message: `unknown key "${key}" (expected one of: ${Object.keys(schema.fields).join(', ')})`,
            atKey: true,
          });
        } else {
          const d = decodeAt(v[key]!, fs, path, out);
          if (d !== undefined) res[key] = d;
        }
        path.pop();
      }
      for (const r of schema.required ?? []) {
        if (res[r] === undefined)
          out.push({ severity: 'error', path: [...path, r], message: `missing required field "${r}"` });
      }
      return res;
    }
  }
}

function zero(schema: Schema): unknown {
  switch (schema.k) {
    case 'str':
      return '';
    case 'int':
      return 0;
    case 'bool':
      return false;
    case 'list':
      return [];
    case 'lazy':
      return zero(schema.get());
    default:
      return {};
  }
}
