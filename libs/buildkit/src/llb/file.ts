import { posix } from 'node:path';
import { int64 } from '../proto.js';
import type { State } from './state.js';
import type { OpOptions } from './types.js';
import {
  constraintsFields,
  inputIndex,
  type MarshalContext,
  type MarshaledOp,
  opMetadata,
  type Output,
  type Vertex,
} from './vertex.js';

/** A uid/gid number, or a user/group name resolved in the target filesystem's /etc/passwd. */
export type UserRef = number | string;

export interface Chown {
  readonly user?: UserRef;
  readonly group?: UserRef;
}

export interface MkdirOptions {
  readonly makeParents?: boolean;
  readonly chown?: Chown;
  readonly timestamp?: Date;
}

export interface MkfileOptions {
  readonly chown?: Chown;
  readonly timestamp?: Date;
}

export interface RmOptions {
  readonly allowNotFound?: boolean;
  readonly allowWildcard?: boolean;
}

export interface CopyOptions {
  readonly followSymlinks?: boolean;
  /** Copy the contents of a source directory rather than the directory itself. */
  readonly copyDirContentsOnly?: boolean;
  /** Create missing parent directories of `dest`. */
  readonly createDestPath?: boolean;
  readonly allowWildcard?: boolean;
  readonly allowEmptyWildcard?: boolean;
  readonly attemptUnpack?: boolean;
  readonly chown?: Chown;
  /** Permission bits to apply to copied files (default: keep). */
  readonly mode?: number;
  readonly timestamp?: Date;
  readonly includePatterns?: readonly string[];
  readonly excludePatterns?: readonly string[];
  readonly alwaysReplaceExistingDestPaths?: boolean;
}

export type FileActionSpec =
  | { readonly kind: 'mkdir'; readonly path: string; readonly mode: number; readonly opts: MkdirOptions }
  | {
      readonly kind: 'mkfile';
      readonly path: string;
      readonly mode: number;
      readonly data: Uint8Array;
      readonly opts: MkfileOptions;
    }
  | { readonly kind: 'rm'; readonly path: string; readonly opts: RmOptions }
  | {
      readonly kind: 'copy';
      readonly source: State;
      readonly src: string;
      readonly dest: string;
      readonly opts: CopyOptions;
    };

/**
 * An immutable chain of file actions; each action works on the result of the previous one, and
 * the whole chain becomes one FileOp: `llb.mkdir('/out').mkfile('/out/a', 0o644, 'x')`.
 */
export class FileAction {
  readonly actions: readonly FileActionSpec[];

  constructor(actions: readonly FileActionSpec[]) {
    if (actions.length === 0) throw new Error('file: an action chain needs at least one action');
    this.actions = actions;
  }

  #then(a: FileActionSpec): FileAction {
    return new FileAction([...this.actions, a]);
  }

  mkdir(path: string, mode = 0o755, opts: MkdirOptions = {}): FileAction {
    return this.#then({ kind: 'mkdir', path, mode, opts });
  }

  mkfile(path: string, mode: number, data: string | Uint8Array, opts: MkfileOptions = {}): FileAction {
    return this.#then({ kind: 'mkfile', path, mode, data: toBytes(data), opts });
  }

  rm(path: string, opts: RmOptions = {}): FileAction {
    return this.#then({ kind: 'rm', path, opts });
  }

  copy(source: State, src: string, dest: string, opts: CopyOptions = {}): FileAction {
    return this.#then({ kind: 'copy', source, src, dest, opts });
  }
}

function toBytes(data: string | Uint8Array): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

export function mkdir(path: string, mode = 0o755, opts: MkdirOptions = {}): FileAction {
  return new FileAction([{ kind: 'mkdir', path, mode, opts }]);
}

export function mkfile(
  path: string,
  mode: number,
  data: string | Uint8Array,
  opts: MkfileOptions = {},
): FileAction {
  return new FileAction([{ kind: 'mkfile', path, mode, data: toBytes(data), opts }]);
}

export function rm(path: string, opts: RmOptions = {}): FileAction {
  return new FileAction([{ kind: 'rm', path, opts }]);
}

export function copy(source: State, src: string, dest: string, opts: CopyOptions = {}): FileAction {
  return new FileAction([{ kind: 'copy', source, src, dest, opts }]);
}

/** Joins `p` to `cwd` like Go's llb, keeping a trailing slash (it means "into this directory"). */
function resolvePath(cwd: string, p: string): string {
  if (p === '') throw new Error('file: empty path');
  const r = posix.resolve(cwd, p);
  return (p.endsWith('/') || p.endsWith('/.')) && r !== '/' ? `${r}/` : r;
}

/** Nanoseconds since the epoch as an int64 (beyond 2^53), or the `-1` "no override" sentinel. */
function timestamp(d: Date | undefined): unknown {
  if (!d) return -1;
  return int64(BigInt(d.getTime()) * 1_000_000n);
}

function userOpt(u: UserRef, base: number): Record<string, unknown> {
  if (typeof u === 'number') {
    if (!Number.isInteger(u) || u < 0) throw new Error(`file: invalid uid/gid ${u}`);
    return { byID: u };
  }
  return /^\d+$/.test(u) ? { byID: Number(u) } : { byName: { name: u, input: base } };
}

function chown(c: Chown | undefined, base: number): Record<string, unknown> | undefined {
  if (!c || (c.user === undefined && c.group === undefined)) return undefined;
  const w: Record<string, unknown> = {};
  if (c.user !== undefined) w['user'] = userOpt(c.user, base);
  if (c.group !== undefined) w['group'] = userOpt(c.group, base);
  return w;
}

function withOwner(w: Record<string, unknown>, key: string, owner: Record<string, unknown> | undefined) {
  if (owner) w[key] = owner;
}

export class FileOp implements Vertex {
  readonly kind = 'file';
  readonly inputs: readonly Output[];
  readonly #actions: readonly Record<string, unknown>[];
  readonly #opts: OpOptions;

  constructor(base: State, chain: FileAction, opts: OpOptions) {
    this.#opts = opts;
    const inputs: Output[] = [];
    const baseOut = base.output();
    const baseIndex = baseOut ? inputIndex(inputs, baseOut) : -1;
    const secondary = chain.actions.map((a) => {
      if (a.kind !== 'copy') return -1;
      const o = a.source.output();
      return o ? inputIndex(inputs, o) : -1;
    });
    const n = inputs.length;
    const cwd = base.meta.cwd;
    this.#actions = chain.actions.map((a, j) => {
      // Actions chain: action j reads the result of action j-1, addressed as n + (j-1).
      const input = j === 0 ? baseIndex : n + j - 1;
      const w: Record<string, unknown> = {
        input,
        secondaryInput: secondary[j],
        output: j === chain.actions.length - 1 ? 0 : -1,
      };
      switch (a.kind) {
        case 'mkdir': {
          const m: Record<string, unknown> = { path: resolvePath(cwd, a.path), mode: a.mode };
          if (a.opts.makeParents) m['makeParents'] = true;
          withOwner(m, 'owner', chown(a.opts.chown, input));
          m['timestamp'] = timestamp(a.opts.timestamp);
          w['mkdir'] = m;
          break;
        }
        case 'mkfile': {
          const m: Record<string, unknown> = { path: resolvePath(cwd, a.path), mode: a.mode, data: a.data };
          withOwner(m, 'owner', chown(a.opts.chown, input));
          m['timestamp'] = timestamp(a.opts.timestamp);
          w['mkfile'] = m;
          break;
        }
        case 'rm': {
          const m: Record<string, unknown> = { path: resolvePath(cwd, a.path) };
          if (a.opts.allowNotFound) m['allowNotFound'] = true;
          if (a.opts.allowWildcard) m['allowWildcard'] = true;
          w['rm'] = m;
          break;
        }
        case 'copy': {
          const o = a.opts;
          const m: Record<string, unknown> = {
            src: resolvePath(a.source.meta.cwd, a.src),
            dest: resolvePath(cwd, a.dest),
          };
          withOwner(m, 'owner', chown(o.chown, input));
          m['mode'] = o.mode ?? -1;
          if (o.followSymlinks) m['followSymlink'] = true;
          if (o.copyDirContentsOnly) m['dirCopyContents'] = true;
          if (o.attemptUnpack) m['attemptUnpackDockerCompatibility'] = true;
          if (o.createDestPath) m['createDestPath'] = true;
          if (o.allowWildcard) m['allowWildcard'] = true;
          if (o.allowEmptyWildcard) m['allowEmptyWildcard'] = true;
          m['timestamp'] = timestamp(o.timestamp);
          if (o.includePatterns?.length) m['include_patterns'] = [...o.includePatterns];
          if (o.excludePatterns?.length) m['exclude_patterns'] = [...o.excludePatterns];
          if (o.alwaysReplaceExistingDestPaths) m['alwaysReplaceExistingDestPaths'] = true;
          w['copy'] = m;
          break;
        }
      }
      return w;
    });
    this.inputs = inputs;
  }

  marshal(ctx: MarshalContext): MarshaledOp {
    // Go clears the platform on FileOps: they do not depend on it.
    return {
      op: { file: { actions: this.#actions }, ...constraintsFields(undefined, ctx, false) },
      metadata: opMetadata(this.#opts),
    };
  }
}
