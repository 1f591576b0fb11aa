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

interface VertexState {
  info: VertexInfo;
  outcome: VertexOutcome;
  started: Date | undefined;
  completed: Date | undefined;
  error: string | undefined;
  partial: Map<number, string>;
  tail: string[];
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
        partial: new Map(),
        tail: [],
      };
      this.#vertices.set(digest, v);
    }
    return v;
  }

  update(msg: StatusMessage): void {
    for (const w of msg.vertexes) {
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
      if (started && v.outcome === 'pending') {
        v.started = started;
        v.outcome = 'running';
        if (!(w.cached && completed)) this.#emit({ type: 'vertex.started', vertex: info, started });
      }
      if (v.outcome === 'pending' || v.outcome === 'running') {
        if (w.error) {
          v.completed = completed ?? new Date();
          v.error = w.error;
          v.outcome = 'errored';
          this.#flush(v);
          this.#emit({
            type: 'vertex.errored',
            vertex: info,
            error: w.error,
            started: v.started,
            completed: v.completed,
            durationMs: v.started ? v.completed.getTime() - v.started.getTime() : 0,
          });
        } else if (w.cached && (completed || !started)) {
          v.completed = completed ?? started ?? new Date();
          v.outcome = 'cached';
          this.#emit({ type: 'vertex.cached', vertex: info, at: v.completed });
        } else if (completed) {
          v.completed = completed;
          v.outcome = 'completed';
          this.#flush(v);
          const s = v.started ?? completed;
          this.#emit({
            type: 'vertex.completed',
            vertex: info,
            started: s,
            completed,
            durationMs: completed.getTime() - s.getTime(),
          });
        }
      }
    }
    for (const l of msg.logs) {
      const v = this.#vertex(l.vertex);
      const stream = l.stream === 2 ? 2 : 1;
      const text = (v.partial.get(stream) ?? '') + l.msg.toString('utf8');
      const lines = text.split('\n');
      v.partial.set(stream, lines.pop() ?? '');
      const ts = toDate(l.timestamp) ?? new Date();
      for (const line of lines) this.#line(v, stream, line.replace(/\r$/, ''), ts);
    }
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

  #line(v: VertexState, stream: number, line: string, timestamp: Date): void {
    v.tail.push(line);
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
    for (const v of this.#vertices.values()) this.#flush(v);
  }

  logTail(digest: string): string[] {
    const v = this.#vertices.get(digest);
    if (!v) return [];
    this.#flush(v);
    return [...v.tail];
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
