import type { SolveEvent, SolveSummary, VertexInfo, VertexOutcome, VertexRecord } from './events.js';

/** `moby.buildkit.v1.StatusResponse` as decoded by protobufjs (defaults on). */
export interface StatusMessage {
  vertexes: {
    digest: string;
    inputs: string[];
    name: string;
    cached: boolean;
    started: WireTime | null;
    completed: WireTime | null;
    error: string;
    progressGroup: { id: string; name: string } | null;
  }[];
  statuses: {
    ID: string;
    vertex: string;
    name: string;
    current: number;
    total: number;
    completed: WireTime | null;
  }[];
  logs: { vertex: string; timestamp: WireTime | null; stream: number; msg: Buffer }[];
  warnings: { vertex: string; short: Buffer; detail: Buffer[] }[];
}

interface WireTime {
  seconds: number;
  nanos: number;
}

function toDate(t: WireTime | null): Date | undefined {
  if (!t || (t.seconds === 0 && t.nanos === 0)) return undefined;
  return new Date(t.seconds * 1000 + Math.floor(t.nanos / 1e6));
}

const LOG_TAIL = 50;
const DEFER_MS = 250;

interface VertexState {
  info: VertexInfo;
  outcome: VertexOutcome;
  started: Date | undefined;
  completed: Date | undefined;
  error: string | undefined;
  /** A terminal event was emitted. */
  terminal: boolean;
  startEmitted: boolean;
  /** A completion waiting to see whether another phase follows. */
  deferred: NodeJS.Timeout | undefined;
  partial: Map<number, string>;
  tail: { t: number; line: string }[];
}

/**
 * Folds the daemon's status stream (which re-sends a vertex on every change) into
 * transition events, per-vertex log lines and a summary.
 */
export class ProgressTracker {
  readonly #vertices = new Map<string, VertexState>();
  readonly #emit: (e: SolveEvent) => void;
  readonly #translate: (d: string) => string;
  readonly #begin = Date.now();
  #end: number | undefined;

  constructor(emit: (e: SolveEvent) => void, translate: (digest: string) => string = (d) => d) {
    this.#emit = emit;
    this.#translate = translate;
  }

  #vertex(wireDigest: string): VertexState {
    const digest = this.#translate(wireDigest);
    let v = this.#vertices.get(digest);
    if (!v) {
      v = {
        info: { digest, name: digest, inputs: [] },
        outcome: 'pending',
        started: undefined,
        completed: undefined,
        error: undefined,
        terminal: false,
        startEmitted: false,
        deferred: undefined,
        partial: new Map(),
        tail: [],
      };
      this.#vertices.set(digest, v);
    }
    return v;
  }

  update(msg: StatusMessage): void {
    // The daemon reports a vertex once per phase (cache-key computation, then load or run), each
    // with its own started/completed pair, often several in one message. Only the last update of
    // a message decides the vertex's state; a later phase reopens a finished vertex.
    const last = new Map<string, StatusMessage['vertexes'][number]>();
    for (const w of msg.vertexes) last.set(w.digest, w);
    for (const w of last.values()) this.#vertexUpdate(w);
    this.#logs(msg.logs);
    this.#progress(msg);
  }

  /** One vertex's last update in a message: start, outcome, or a later phase correcting it. */
  #vertexUpdate(w: StatusMessage['vertexes'][number]): void {
    const v = this.#vertex(w.digest);
    const info: VertexInfo = {
      digest: v.info.digest,
      name: w.name || v.info.name,
      inputs: w.inputs.map(this.#translate),
      ...(w.progressGroup?.id
        ? { progressGroup: { id: w.progressGroup.id, name: w.progressGroup.name } }
        : {}),
    };
    v.info = info;
    const started = toDate(w.started);
    const completed = toDate(w.completed);
    if (!started) return;
    if (v.deferred) {
      clearTimeout(v.deferred);
      v.deferred = undefined;
      if (started.getTime() === v.started?.getTime() && completed && !w.error && !w.cached) {
        // The same phase re-sent: report it now.
        this.#complete(v);
        return;
      }
    }
    if (v.terminal) {
      // A later phase after we reported an outcome: correct the record, without new events.
      if (w.error) {
        v.outcome = 'errored';
        v.error = w.error;
      } else if (w.cached) v.outcome = 'cached';
      else if (completed) v.outcome = 'completed';
      else v.outcome = 'running';
      v.started = started;
      v.completed = completed;
      return;
    }
    v.started = started;
    if (!v.startEmitted && !(w.cached && completed && !w.error)) {
      v.startEmitted = true;
      this.#emit({ type: 'vertex.started', vertex: info, started });
    }
    v.outcome = 'running';
    if (!completed) return;
    v.completed = completed;
    v.terminal = true;
    if (w.error) {
      v.error = w.error;
      v.outcome = 'errored';
      this.#flush(v);
      this.#emit({
        type: 'vertex.errored',
        vertex: info,
        error: w.error,
        started,
        completed,
        durationMs: completed.getTime() - started.getTime(),
      });
    } else if (w.cached) {
      v.outcome = 'cached';
      this.#emit({ type: 'vertex.cached', vertex: info, at: completed });
    } else {
      // Possibly just the cache-key phase: if a run phase follows right away, this vertex is
      // reopened before the timer fires and only the real completion is reported.
      v.outcome = 'completed';
      v.terminal = false;
      v.deferred = setTimeout(() => this.#complete(v), DEFER_MS);
      v.deferred.unref();
    }
  }

  /** Log chunks, split into lines per vertex and stream (a partial last line waits for the rest). */
  #logs(logs: StatusMessage['logs']): void {
    for (const l of logs) {
      const v = this.#vertex(l.vertex);
      const stream = l.stream === 2 ? 2 : 1;
      const text = (v.partial.get(stream) ?? '') + l.msg.toString('utf8');
      const lines = text.split('\n');
      v.partial.set(stream, lines.pop() ?? '');
      const ts = toDate(l.timestamp) ?? new Date();
      for (const line of lines) this.#line(v, stream, line.replace(/\r$/, ''), ts);
    }
  }

  /** Progress counters and warnings, passed on as events. */
  #progress(msg: StatusMessage): void {
    for (const s of msg.statuses) {
      const v = this.#vertex(s.vertex);
      this.#emit({
        type: 'vertex.progress',
        vertex: v.info,
        id: s.ID,
        current: s.current,
        total: s.total,
        completed: toDate(s.completed) !== undefined,
      });
    }
    for (const w of msg.warnings) {
      const v = this.#vertex(w.vertex);
      this.#emit({
        type: 'vertex.warning',
        vertex: v.info,
        message: w.short.toString('utf8'),
        detail: w.detail.map((d) => d.toString('utf8')),
      });
    }
  }

  #complete(v: VertexState): void {
    if (v.deferred) clearTimeout(v.deferred);
    v.deferred = undefined;
    if (v.terminal || !v.started || !v.completed) return;
    v.terminal = true;
    v.outcome = 'completed';
    this.#flush(v);
    this.#emit({
      type: 'vertex.completed',
      vertex: v.info,
      started: v.started,
      completed: v.completed,
      durationMs: v.completed.getTime() - v.started.getTime(),
    });
  }

  #line(v: VertexState, stream: number, line: string, timestamp: Date): void {
    // stdout and stderr arrive as separate batches: keep the tail in timestamp order.
    const t = timestamp.getTime();
    let i = v.tail.length;
    while (i > 0 && (v.tail[i - 1]?.t ?? 0) > t) i--;
    v.tail.splice(i, 0, { t, line });
    if (v.tail.length > LOG_TAIL) v.tail.shift();
    this.#emit({
      type: 'vertex.log',
      vertex: v.info,
      stream: stream === 2 ? 'stderr' : 'stdout',
      line,
      timestamp,
    });
  }

  #flush(v: VertexState): void {
    for (const [stream, rest] of v.partial) if (rest !== '') this.#line(v, stream, rest, new Date());
    v.partial.clear();
  }

  /** Called when the status stream ends: flush partial log lines. */
  finish(): void {
    this.#end ??= Date.now();
    for (const v of this.#vertices.values()) {
      if (v.deferred) this.#complete(v);
      this.#flush(v);
    }
  }

  logTail(digest: string): string[] {
    const v = this.#vertices.get(digest);
    if (!v) return [];
    this.#flush(v);
    return v.tail.map((x) => x.line);
  }

  /** The vertex that failed first (its own error, not a cancellation caused by it). */
  failed(): VertexRecord | undefined {
    const errored = this.records().filter((r) => r.outcome === 'errored');
    return errored.find((r) => !/context canceled/.test(r.error ?? '')) ?? errored[0];
  }

  records(): VertexRecord[] {
    return [...this.#vertices.values()].map((v) => ({
      digest: v.info.digest,
      name: v.info.name,
      outcome: v.outcome,
      started: v.started,
      completed: v.completed,
      durationMs: v.started && v.completed ? v.completed.getTime() - v.started.getTime() : undefined,
      error: v.error,
    }));
  }

  summary(): SolveSummary {
    const r = this.records();
    return {
      total: r.length,
      cached: r.filter((x) => x.outcome === 'cached').length,
      executed: r.filter((x) => x.outcome === 'completed').length,
      errored: r.filter((x) => x.outcome === 'errored').length,
      durationMs: (this.#end ?? Date.now()) - this.#begin,
    };
  }
}
