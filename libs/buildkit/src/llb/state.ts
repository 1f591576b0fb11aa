import { posix } from 'node:path';
import { ExecState, type RunOptions } from './exec.js';
import { type FileAction, FileOp } from './file.js';
import type { OpOptions, Platform, ProgressGroup } from './types.js';
import type { Output } from './vertex.js';

export type NetworkMode = 'sandbox' | 'host' | 'none';
export type SecurityMode = 'sandbox' | 'insecure';

/** Values a state carries forward to the ops built from it (Go's `llb` state meta). */
export interface StateMeta {
  readonly env: readonly (readonly [string, string])[];
  readonly cwd: string;
  readonly user: string | undefined;
  readonly platform: Platform | undefined;
  readonly hostname: string | undefined;
  readonly network: NetworkMode | undefined;
  readonly security: SecurityMode | undefined;
  readonly progressGroup: ProgressGroup | undefined;
}

const EMPTY_META: StateMeta = {
  env: [],
  cwd: '/',
  user: undefined,
  platform: undefined,
  hostname: undefined,
  network: undefined,
  security: undefined,
  progressGroup: undefined,
};

/**
 * An immutable point in an LLB graph: an op output (or scratch) plus the env, working dir,
 * user and platform that later ops inherit. Every method returns a new State; nothing runs until
 * the graph is marshaled and solved.
 */
export class State {
  readonly #output: Output | undefined;
  readonly meta: StateMeta;

  constructor(output: Output | undefined, meta: StateMeta = EMPTY_META) {
    this.#output = output;
    this.meta = meta;
  }

  /** The op output this state refers to; undefined for scratch. */
  output(): Output | undefined {
    return this.#output;
  }

  isScratch(): boolean {
    return this.#output === undefined;
  }

  #with(m: Partial<StateMeta>): State {
    return new State(this.#output, { ...this.meta, ...m });
  }

  /** Same meta, another output (used by op constructors). */
  withOutput(output: Output | undefined): State {
    return new State(output, this.meta);
  }

  /** Sets (or replaces) one environment variable for later `run` steps. */
  env(key: string, value: string): State {
    if (key === '' || key.includes('=')) throw new Error(`invalid env name ${JSON.stringify(key)}`);
    const env = this.meta.env.filter(([k]) => k !== key);
    env.push([key, value]);
    return this.#with({ env });
  }

  getEnv(key: string): string | undefined {
    return this.meta.env.find(([k]) => k === key)?.[1];
  }

  /** Environment as `K=V` strings, in the order first set. */
  envList(): string[] {
    return this.meta.env.map(([k, v]) => `${k}=${v}`);
  }

  /** Working directory; a relative path is joined to the current one. */
  dir(path: string): State {
    return this.#with({ cwd: posix.resolve(this.meta.cwd, path) });
  }

  getDir(): string {
    return this.meta.cwd;
  }

  user(user: string): State {
    return this.#with({ user });
  }

  hostname(hostname: string): State {
    return this.#with({ hostname });
  }

  network(network: NetworkMode): State {
    return this.#with({ network });
  }

  security(security: SecurityMode): State {
    return this.#with({ security });
  }

  /** Default platform for ops built from this state. */
  platform(platform: Platform): State {
    return this.#with({ platform });
  }

  getPlatform(): Platform | undefined {
    return this.meta.platform;
  }

  /** Default progress group for ops built from this state. */
  progressGroup(group: ProgressGroup | undefined): State {
    return this.#with({ progressGroup: group });
  }

  /** Runs a command with this state as the root filesystem. */
  run(opts: RunOptions): ExecState {
    return new ExecState(this, opts);
  }

  /** Applies a chain of file actions (mkdir, mkfile, copy, rm) as one FileOp. */
  file(action: FileAction, opts: OpOptions = {}): State {
    const op = new FileOp(this, action, this.#defaults(opts));
    return this.withOutput({ vertex: op, index: 0 });
  }

  /** Applies a function to this state: `st.with(addTools).with(addUser)`. */
  with(...fns: ((s: State) => State)[]): State {
    return fns.reduce<State>((s, f) => f(s), this);
  }

  /** Op options with the state's platform and progress group filled in. */
  #defaults(opts: OpOptions): OpOptions {
    return {
      ...opts,
      platform: opts.platform ?? this.meta.platform,
      progressGroup: opts.progressGroup ?? this.meta.progressGroup,
    };
  }

  /** @internal op options merged with this state's defaults. */
  opDefaults(opts: OpOptions): OpOptions {
    return this.#defaults(opts);
  }
}

/** An empty filesystem. */
export function scratch(): State {
  return new State(undefined);
}
