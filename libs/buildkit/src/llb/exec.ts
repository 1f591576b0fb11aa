import { posix } from 'node:path';
import type { FileAction } from './file.js';
import type { NetworkMode, SecurityMode, State } from './state.js';
import type { OpOptions } from './types.js';
import {
  compareBytes,
  constraintsFields,
  inputIndex,
  type MarshalContext,
  type MarshaledOp,
  opMetadata,
  type Output,
  type Vertex,
} from './vertex.js';

export type CacheSharing = 'shared' | 'private' | 'locked';

/** A read-only or writable view of another state's filesystem. */
export interface BindMount {
  readonly type: 'bind';
  readonly dest: string;
  readonly source: State;
  /** Sub-path of `source` to mount. */
  readonly selector?: string;
  readonly readonly?: boolean;
  /** A writable mount whose changes are discarded (no output state). */
  readonly noOutput?: boolean;
  /** Whether the daemon may key this mount by content (`contentCache`). */
  readonly contentCache?: 'default' | 'on' | 'off';
}

/** A persistent directory kept by the daemon across builds, keyed by `id`. */
export interface CacheMount {
  readonly type: 'cache';
  readonly dest: string;
  readonly id: string;
  readonly sharing?: CacheSharing;
  /** Seeds the cache from this state the first time. */
  readonly source?: State;
  readonly selector?: string;
}

export interface TmpfsMount {
  readonly type: 'tmpfs';
  readonly dest: string;
  /** Size limit in bytes. */
  readonly size?: number;
}

/** A file holding the session secret `id`; the value never enters the Definition or cache keys. */
export interface SecretMount {
  readonly type: 'secret';
  readonly dest: string;
  readonly id: string;
  readonly uid?: number;
  readonly gid?: number;
  /** Permission bits; default 0o400. */
  readonly mode?: number;
  readonly optional?: boolean;
}

export type Mount = BindMount | CacheMount | TmpfsMount | SecretMount;

export function bind(
  dest: string,
  source: State,
  o: Omit<BindMount, 'type' | 'dest' | 'source'> = {},
): BindMount {
  return { type: 'bind', dest, source, ...o };
}

export function cache(
  dest: string,
  id: string,
  o: Omit<CacheMount, 'type' | 'dest' | 'id'> = {},
): CacheMount {
  return { type: 'cache', dest, id, ...o };
}

export function tmpfs(dest: string, o: Omit<TmpfsMount, 'type' | 'dest'> = {}): TmpfsMount {
  return { type: 'tmpfs', dest, ...o };
}

export function secret(
  dest: string,
  id: string,
  o: Omit<SecretMount, 'type' | 'dest' | 'id'> = {},
): SecretMount {
  return { type: 'secret', dest, id, ...o };
}

/** A secret exposed to the step as an environment variable (resolved through the session). */
export interface SecretEnv {
  readonly id: string;
  readonly name: string;
  readonly optional?: boolean;
}

export interface RunOptions extends OpOptions {
  /** argv; no shell is implied. */
  readonly args: readonly string[];
  /** Added to (or replacing) the state's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory, relative to the state's. */
  readonly cwd?: string;
  readonly user?: string;
  readonly hostname?: string;
  readonly mounts?: readonly Mount[];
  readonly network?: NetworkMode;
  readonly security?: SecurityMode;
  readonly readonlyRootfs?: boolean;
  readonly secretEnv?: readonly SecretEnv[];
  /** Exit codes counted as success (default: only 0). */
  readonly validExitCodes?: readonly number[];
  readonly extraHosts?: readonly { readonly host: string; readonly ip: string }[];
}

const NET: Record<NetworkMode, number> = { sandbox: 0, host: 1, none: 2 };
const SEC: Record<SecurityMode, number> = { sandbox: 0, insecure: 1 };
const SHARING: Record<CacheSharing, number> = { shared: 0, private: 1, locked: 2 };
const CONTENT_CACHE = { default: 0, on: 1, off: 2 } as const;
const MOUNT_TYPE = { bind: 0, secret: 1, cache: 3, tmpfs: 4 } as const;

interface PlannedMount {
  readonly mount: Mount;
  readonly input: number;
  readonly output: number;
}

export class ExecOp implements Vertex {
  readonly kind = 'exec';
  readonly inputs: readonly Output[];
  readonly #base: State;
  readonly #opts: RunOptions;
  readonly #mounts: readonly PlannedMount[];
  readonly #env: string[];
  readonly #cwd: string;

  constructor(base: State, opts: RunOptions) {
    if (opts.args.length === 0) throw new Error('run: args must not be empty');
    this.#base = base;
    this.#opts = base.opDefaults(opts) as RunOptions;
    let env = base.meta.env.slice();
    for (const [k, v] of Object.entries(opts.env ?? {})) {
      if (k === '' || k.includes('=')) throw new Error(`run: invalid env name ${JSON.stringify(k)}`);
      const i = env.findIndex(([ek]) => ek === k);
      if (i >= 0) env = env.map((e, j) => (j === i ? [k, v] : e));
      else env.push([k, v]);
    }
    this.#env = env.map(([k, v]) => `${k}=${v}`);
    this.#cwd = posix.resolve(base.meta.cwd, opts.cwd ?? '.');

    const root: BindMount = {
      type: 'bind',
      dest: '/',
      source: base,
      ...(opts.readonlyRootfs ? { readonly: true } : {}),
    };
    const all: Mount[] = [root, ...(opts.mounts ?? [])];
    const seen = new Set<string>();
    for (const m of all) {
      if (!m.dest.startsWith('/'))
        throw new Error(`run: mount destination ${JSON.stringify(m.dest)} must be absolute`);
      const dest = posix.resolve('/', m.dest);
      if (seen.has(dest)) throw new Error(`run: two mounts at ${JSON.stringify(dest)}`);
      seen.add(dest);
    }
    // Go sorts mounts by destination (so "/" is first) and numbers outputs in that order;
    // secret mounts follow the sorted list, as in Go.
    const sorted = all
      .map((m) => ({ ...m, dest: posix.resolve('/', m.dest) }) as Mount)
      .sort((a, b) => {
        const sa = a.type === 'secret' ? 1 : 0;
        const sb = b.type === 'secret' ? 1 : 0;
        return sa - sb || compareBytes(a.dest, b.dest);
      });
    const inputs: Output[] = [];
    let nextOutput = 0;
    this.#mounts = sorted.map((m) => {
      let input = -1;
      if (m.type === 'bind' || m.type === 'cache') {
        const src = m.source?.output();
        if (src) input = inputIndex(inputs, src);
      }
      let output = -1;
      if (m.type === 'bind' && !m.readonly && !m.noOutput) output = nextOutput++;
      return { mount: m, input, output };
    });
    this.inputs = inputs;
  }

  /** Output index produced by the mount at `dest`, or undefined when it has none. */
  outputOf(dest: string): number | undefined {
    const d = posix.resolve('/', dest);
    const m = this.#mounts.find((x) => x.mount.dest === d);
    return m && m.output >= 0 ? m.output : undefined;
  }

  hasMount(dest: string): boolean {
    const d = posix.resolve('/', dest);
    return this.#mounts.some((x) => x.mount.dest === d);
  }

  marshal(ctx: MarshalContext): MarshaledOp {
    const o = this.#opts;
    const meta: Record<string, unknown> = { args: [...o.args], env: this.#env, cwd: this.#cwd };
    const user = o.user ?? this.#base.meta.user;
    if (user) meta['user'] = user;
    if (o.extraHosts?.length) meta['extraHosts'] = o.extraHosts.map((h) => ({ Host: h.host, IP: h.ip }));
    const hostname = o.hostname ?? this.#base.meta.hostname;
    if (hostname) meta['hostname'] = hostname;
    meta['removeMountStubsRecursive'] = true;
    if (o.validExitCodes?.length) meta['validExitCodes'] = [...o.validExitCodes];

    const exec: Record<string, unknown> = { meta, mounts: this.#mounts.map(wireMount) };
    const network = o.network ?? this.#base.meta.network;
    if (network) exec['network'] = NET[network];
    const security = o.security ?? this.#base.meta.security;
    if (security) exec['security'] = SEC[security];
    if (o.secretEnv?.length) {
      exec['secretenv'] = o.secretEnv.map((s) => ({ ID: s.id, name: s.name, optional: s.optional ?? false }));
    }
    return { op: { exec, ...constraintsFields(o.platform, ctx, true) }, metadata: opMetadata(o) };
  }
}

function wireMount(p: PlannedMount): Record<string, unknown> {
  const m = p.mount;
  const w: Record<string, unknown> = { input: p.input };
  if ((m.type === 'bind' || m.type === 'cache') && m.selector) w['selector'] = m.selector;
  w['dest'] = m.dest;
  w['output'] = p.output;
  if (m.type === 'bind' && m.readonly) w['readonly'] = true;
  w['mountType'] = MOUNT_TYPE[m.type];
  switch (m.type) {
    case 'tmpfs':
      w['TmpfsOpt'] = m.size ? { size: m.size } : {};
      break;
    case 'cache':
      if (m.id === '') throw new Error(`run: cache mount at ${m.dest} needs an id`);
      w['cacheOpt'] = { ID: m.id, sharing: SHARING[m.sharing ?? 'shared'] };
      break;
    case 'secret':
      w['secretOpt'] = {
        ID: m.id,
        uid: m.uid ?? 0,
        gid: m.gid ?? 0,
        mode: m.mode ?? 0o400,
        optional: m.optional ?? false,
      };
      break;
    case 'bind':
      if (m.contentCache && m.contentCache !== 'default') w['contentCache'] = CONTENT_CACHE[m.contentCache];
      break;
  }
  return w;
}

/** The result of `State.run`: the root filesystem and each writable mount are states. */
export class ExecState {
  readonly op: ExecOp;
  readonly #base: State;

  constructor(base: State, opts: RunOptions) {
    this.op = new ExecOp(base, opts);
    this.#base = base;
  }

  /** The root filesystem after the command ran. */
  root(): State {
    const i = this.op.outputOf('/');
    if (i === undefined) throw new Error('run: the root filesystem is read-only, it has no output');
    return this.#base.withOutput({ vertex: this.op, index: i });
  }

  /** The contents of the writable mount at `dest` after the command ran. */
  getMount(dest: string): State {
    if (!this.op.hasMount(dest)) throw new Error(`run: no mount at ${JSON.stringify(dest)}`);
    const i = this.op.outputOf(dest);
    if (i === undefined) {
      throw new Error(
        `run: mount ${JSON.stringify(dest)} has no output (read-only, cache, tmpfs, secret or noOutput)`,
      );
    }
    return this.#base.withOutput({ vertex: this.op, index: i });
  }

  /** Shorthand for `root().run(opts)`. */
  run(opts: RunOptions): ExecState {
    return this.root().run(opts);
  }

  /** Shorthand for `root().file(action, opts)`. */
  file(action: FileAction, opts?: OpOptions): State {
    return this.root().file(action, opts);
  }
}
