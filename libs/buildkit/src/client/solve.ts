import type { Writable } from 'node:stream';
import type * as grpc from '@grpc/grpc-js';
import { CancelledError, type FailedStep, SolveError, UsageError } from '../errors.js';
import type { Definition } from '../llb/definition.js';
import type { SolveEvent, SolveSummary, VertexRecord } from '../progress/events.js';
import { type StatusMessage, ProgressTracker } from '../progress/tracker.js';
import { control } from '../proto.js';
import { type ExportSink, FileSendReceiver } from '../session/filesend.js';
import { FileSyncProvider, type LocalDir } from '../session/filesync.js';
import { SecretsProvider } from '../session/secrets.js';
import { type Attachable, newId, Session } from '../session/session.js';
import type { BuildkitClient } from './client.js';
import { bindLocalSources, localSourceNames } from './rewrite.js';
import { CONTROL, deserializer, serializer, unary } from './rpc.js';

/** One exporter. `local` needs `dest` (a directory); `tar`/`oci`/`docker` need `dest` (a file) or `stream`. */
export interface ExportSpec {
  readonly type: 'local' | 'tar' | 'oci' | 'docker' | 'image' | (string & {});
  readonly attrs?: Readonly<Record<string, string>>;
  readonly dest?: string;
  readonly stream?: Writable;
}

export interface CacheSpec {
  readonly type: string;
  readonly attrs?: Readonly<Record<string, string>>;
}

export interface SolveOptions {
  /** Build ID (default: random); also the Status ref. */
  readonly ref?: string;
  /** Directories served for `llb.local(name)`. */
  readonly localDirs?: Readonly<Record<string, string | LocalDir>>;
  /** Secret values by ID, for secret mounts and secret env. */
  readonly secrets?: Readonly<Record<string, string | Uint8Array>>;
  readonly exports?: readonly ExportSpec[];
  readonly cacheImports?: readonly CacheSpec[];
  readonly cacheExports?: readonly CacheSpec[];
  readonly frontendAttrs?: Readonly<Record<string, string>>;
  /** `network.host`, `security.insecure` (the daemon must allow them too). */
  readonly entitlements?: readonly string[];
  /** Lets the daemon reuse local dirs synced by earlier sessions with the same key. */
  readonly sharedKey?: string;
}

export interface SolveControl {
  /** Aborting cancels the build on the daemon and rejects with CancelledError. */
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: SolveEvent) => void;
}

export interface SolveResult {
  readonly ref: string;
  readonly exporterResponse: Readonly<Record<string, string>>;
  readonly vertices: readonly VertexRecord[];
  readonly summary: SolveSummary;
}

const FILE_EXPORTERS = new Set(['tar', 'oci', 'docker']);

function exportSinks(exports: readonly ExportSpec[]): Map<number, ExportSink> {
  const sinks = new Map<number, ExportSink>();
  exports.forEach((e, i) => {
    if (e.type === 'local') {
      if (!e.dest) throw new UsageError(`exports[${i}]: the local exporter needs dest (a directory)`);
      sinks.set(i, { kind: 'dir', dest: e.dest });
    } else if (FILE_EXPORTERS.has(e.type) && e.attrs?.['tar'] !== 'false') {
      if (e.stream) sinks.set(i, { kind: 'stream', stream: e.stream });
      else if (e.dest) sinks.set(i, { kind: 'file', dest: e.dest });
      else throw new UsageError(`exports[${i}]: the ${e.type} exporter needs dest (a file) or stream`);
    }
  });
  return sinks;
}

function exitCodeOf(msg: string): number | undefined {
  const m = /exit code: (\d+)/.exec(msg);
  return m ? Number(m[1]) : undefined;
}

export async function solve(
  client: BuildkitClient,
  def: Definition,
  opts: SolveOptions,
  ctl: SolveControl,
): Promise<SolveResult> {
  const ref = opts.ref ?? newId();
  if (ctl.signal?.aborted) throw new CancelledError(ref);
  const exports = opts.exports ?? [];
  const sinks = exportSinks(exports);
  checkLocalSources(def, opts);
  const fileSend = new FileSendReceiver(sinks);
  // Always open a session: v0.18 daemons also need one for anonymous pulls behind a Bearer challenge.
  const session = Session.start(client.grpc, {
    name: ref,
    ...(opts.sharedKey !== undefined ? { sharedKey: opts.sharedKey } : {}),
    attachables: [fileSend, ...providers(opts)],
  });

  const bound = bindLocalSources(def, session.id);
  const tracker = new ProgressTracker(
    (e) => {
      try {
        ctl.onEvent?.(e);
      } catch {
        // A progress consumer must never fail the build.
      }
    },
    (d) => bound.toOriginal.get(d) ?? d,
  );

  const status = watchStatus(client, ref, tracker);
  const { call, result } = unary<{ ExporterResponse: Record<string, string> }>(
    client.grpc,
    'Solve',
    control.SolveRequest,
    control.SolveResponse,
    solveRequest(ref, bound.def, session.id, opts),
  );
  let aborted = false;
  const onAbort = () => {
    aborted = true;
    call.cancel();
  };
  ctl.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    const res = await result;
    await Promise.all([...fileSend.done.values()]);
    await withTimeout(status.done, 5000);
    tracker.finish();
    return {
      ref,
      exporterResponse: res.ExporterResponse,
      vertices: tracker.records(),
      summary: tracker.summary(),
    };
  } catch (e) {
    if (aborted) throw new CancelledError(ref, { cause: e });
    // The status stream carries the failed vertex; give it a moment to arrive.
    await withTimeout(status.done, 2000);
    tracker.finish();
    throw solveError(e, ref, tracker);
  } finally {
    ctl.signal?.removeEventListener('abort', onAbort);
    status.cancel();
    session.close();
  }
}

/** A definition that reads a local source without a directory for it fails before the daemon is asked. */
function checkLocalSources(def: Definition, opts: SolveOptions): void {
  const missing = localSourceNames(def).filter((n) => !opts.localDirs?.[n]);
  if (missing.length > 0) {
    throw new UsageError(
      `the definition reads local source${missing.length > 1 ? 's' : ''} ${missing.map((n) => `"${n}"`).join(', ')} ` +
        'but SolveOptions.localDirs has no directory for it',
    );
  }
}

/** The session services a solve needs besides FileSend: local dirs and secrets, when given. */
function providers(opts: SolveOptions): Attachable[] {
  const out: Attachable[] = [];
  if (opts.localDirs && Object.keys(opts.localDirs).length > 0)
    out.push(new FileSyncProvider(opts.localDirs));
  if (opts.secrets && Object.keys(opts.secrets).length > 0) out.push(new SecretsProvider(opts.secrets));
  return out;
}

/** Feeds the solve's status stream into `tracker`; `done` settles when the stream ends either way. */
function watchStatus(
  client: BuildkitClient,
  ref: string,
  tracker: ProgressTracker,
): { done: Promise<void>; cancel(): void } {
  const status = client.grpc.makeServerStreamRequest<Record<string, unknown>, StatusMessage>(
    `${CONTROL}Status`,
    serializer(control.StatusRequest),
    deserializer<StatusMessage>(control.StatusResponse),
    { Ref: ref },
  );
  const done = new Promise<void>((resolve) => {
    status.on('data', (m: StatusMessage) => {
      tracker.update(m);
    });
    status.on('end', () => resolve());
    status.on('error', () => resolve());
  });
  return { done, cancel: () => status.cancel() };
}

/** The Control.Solve request for `def` (already bound to `sessionId`'s local sources). */
function solveRequest(
  ref: string,
  def: Definition,
  sessionId: string,
  opts: SolveOptions,
): Record<string, unknown> {
  const exports = opts.exports ?? [];
  const req: Record<string, unknown> = {
    Ref: ref,
    Definition: def.toWire(),
    Session: sessionId,
    FrontendAttrs: { ...(opts.frontendAttrs ?? {}) },
    Entitlements: [...(opts.entitlements ?? [])],
    Exporters: exports.map((e) => ({ Type: e.type, Attrs: { ...(e.attrs ?? {}) } })),
  };
  const cache: Record<string, unknown> = {};
  if (opts.cacheExports?.length)
    cache['Exports'] = opts.cacheExports.map((c) => ({ Type: c.type, Attrs: { ...(c.attrs ?? {}) } }));
  if (opts.cacheImports?.length)
    cache['Imports'] = opts.cacheImports.map((c) => ({ Type: c.type, Attrs: { ...(c.attrs ?? {}) } }));
  // Always present: v0.18 dereferences SolveRequest.Cache without a nil check (a missing one
  // crashes the daemon).
  req['Cache'] = cache;
  const first = exports[0];
  if (exports.length === 1 && first) {
    // Daemons before v0.13 only read the single deprecated exporter fields.
    req['ExporterDeprecated'] = first.type;
    req['ExporterAttrsDeprecated'] = { ...(first.attrs ?? {}) };
  }
  return req;
}

/** The error of a failed solve: the failed step, its exit code and log tail when the status stream named it. */
function solveError(e: unknown, ref: string, tracker: ProgressTracker): SolveError {
  const se = e as grpc.ServiceError;
  const message = se.details || se.message || String(e);
  const failed = tracker.failed();
  let step: FailedStep | undefined;
  if (failed) {
    step = {
      digest: failed.digest,
      name: failed.name,
      exitCode: exitCodeOf(failed.error ?? '') ?? exitCodeOf(message),
      error: failed.error ?? message,
      logTail: tracker.logTail(failed.digest),
    };
  }
  const text = step
    ? `step "${step.name}" failed${step.exitCode !== undefined ? ` with exit code ${step.exitCode}` : ''}: ${step.error}` +
      (step.logTail.length ? `\n${step.logTail.map((l) => `  | ${l}`).join('\n')}` : '')
    : `solve ${ref} failed: ${message}`;
  return new SolveError(ref, text, step, { cause: e, summary: tracker.summary() });
}

async function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]);
  clearTimeout(t);
}
