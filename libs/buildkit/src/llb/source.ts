import { normalizeImageRef } from './reference.js';
import { State } from './state.js';
import type { OpOptions } from './types.js';
import {
  constraintsFields,
  type MarshalContext,
  type MarshaledOp,
  opMetadata,
  sortedRecord,
  type Vertex,
} from './vertex.js';

export class SourceOp implements Vertex {
  readonly kind = 'source';
  readonly inputs = [] as const;
  readonly identifier: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly #opts: OpOptions;

  constructor(identifier: string, attrs: Readonly<Record<string, string>>, opts: OpOptions) {
    this.identifier = identifier;
    this.attrs = sortedRecord(attrs);
    this.#opts = opts;
  }

  marshal(ctx: MarshalContext): MarshaledOp {
    const source: Record<string, unknown> = { identifier: this.identifier };
    if (Object.keys(this.attrs).length > 0) source['attrs'] = this.attrs;
    return {
      op: { source, ...constraintsFields(this.#opts.platform, ctx, true) },
      metadata: opMetadata(this.#opts),
    };
  }
}

function sourceState(identifier: string, attrs: Record<string, string>, opts: OpOptions): State {
  const op = new SourceOp(identifier, attrs, opts);
  const st = new State({ vertex: op, index: 0 });
  return opts.platform ? st.platform(opts.platform) : st;
}

/** Go's json.Marshal escapes <, > and & in strings; match it so attrs are byte-identical. */
function goJson(v: readonly string[]): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

export interface ImageOptions extends OpOptions {
  /** `default`, `pull` (always check the registry) or `local` (only the daemon's store). */
  readonly resolveMode?: 'default' | 'pull' | 'local';
}

/** A container image; `alpine` is normalized to `docker.io/library/alpine:latest`. */
export function image(ref: string, opts: ImageOptions = {}): State {
  const attrs: Record<string, string> = {};
  if (opts.resolveMode && opts.resolveMode !== 'default') attrs['image.resolvemode'] = opts.resolveMode;
  return sourceState(`docker-image://${normalizeImageRef(ref)}`, attrs, opts);
}

export interface LocalOptions extends OpOptions {
  /** Only send paths matching these patterns (dockerignore syntax). */
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  readonly followPaths?: readonly string[];
  /** Part of the key under which the daemon keeps the previously synced copy for reuse. */
  readonly sharedKeyHint?: string;
  /** `none` re-sends every file; `metadata` (daemon default) trusts size + mtime. */
  readonly differ?: 'none' | 'metadata';
  /** Binds the source to one session. `solve` sets this itself when left empty. */
  readonly sessionId?: string;
  /** Opaque value that makes this source's digest unique. */
  readonly unique?: string;
}

/** A directory from the client, served over the session under `name` (see SolveOptions.localDirs). */
export function local(name: string, opts: LocalOptions = {}): State {
  if (name === '' || name.includes('/')) throw new Error(`local: invalid name ${JSON.stringify(name)}`);
  const attrs: Record<string, string> = {};
  if (opts.include?.length) attrs['local.includepattern'] = goJson(opts.include);
  if (opts.exclude?.length) attrs['local.excludepatterns'] = goJson(opts.exclude);
  if (opts.followPaths?.length) attrs['local.followpaths'] = goJson(opts.followPaths);
  if (opts.sharedKeyHint) attrs['local.sharedkeyhint'] = opts.sharedKeyHint;
  if (opts.differ) attrs['local.differ'] = opts.differ;
  if (opts.sessionId) attrs['local.session'] = opts.sessionId;
  if (opts.unique) attrs['local.unique'] = opts.unique;
  return sourceState(`local://${name}`, attrs, opts);
}

export interface HttpOptions extends OpOptions {
  /** `sha256:<hex>` the download must match. */
  readonly checksum?: string;
  /** Name of the file in the resulting state (default: from the URL). */
  readonly filename?: string;
  readonly perm?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** A single file downloaded by the daemon. */
export function http(url: string, opts: HttpOptions = {}): State {
  if (!/^https?:\/\//.test(url)) throw new Error(`http: ${JSON.stringify(url)} is not an http(s) URL`);
  const attrs: Record<string, string> = {};
  if (opts.checksum) {
    if (!/^sha256:[0-9a-f]{64}$/.test(opts.checksum)) {
      throw new Error(`http: checksum ${JSON.stringify(opts.checksum)} is not sha256:<64 hex>`);
    }
    attrs['http.checksum'] = opts.checksum;
  }
  if (opts.filename) attrs['http.filename'] = opts.filename;
  if (opts.perm !== undefined) attrs['http.perm'] = `0${opts.perm.toString(8)}`;
  if (opts.uid !== undefined) attrs['http.uid'] = String(opts.uid);
  if (opts.gid !== undefined) attrs['http.gid'] = String(opts.gid);
  return sourceState(url, attrs, opts);
}

export interface GitOptions extends OpOptions {
  readonly keepGitDir?: boolean;
  /** Secret ID holding a token for HTTPS auth. */
  readonly authTokenSecret?: string;
}

/** A git checkout by the daemon (needs git on the daemon host). */
export function git(url: string, ref = '', opts: GitOptions = {}): State {
  // Go strips scheme and credentials so https and ssh URLs of one repo share an identifier.
  let id: string;
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new Error(`git: cannot parse remote ${JSON.stringify(url)}`);
    }
    if (u.host === '') throw new Error(`git: remote ${JSON.stringify(url)} has no host`);
    id = `${u.host}${u.pathname}`;
  } else {
    // scp-like: [user@]host:path
    const m = /^(?:[^@/]+@)?([^/:]+):(.+)$/.exec(url);
    if (!m) throw new Error(`git: cannot parse remote ${JSON.stringify(url)}`);
    id = `${m[1]}/${(m[2] ?? '').replace(/^\/+/, '')}`;
  }
  if (ref) id += `#${ref}`;
  const attrs: Record<string, string> = { 'git.fullurl': url };
  if (opts.keepGitDir) attrs['git.keepgitdir'] = 'true';
  if (opts.authTokenSecret) attrs['git.authtokensecret'] = opts.authTokenSecret;
  return sourceState(`git://${id}`, attrs, opts);
}
