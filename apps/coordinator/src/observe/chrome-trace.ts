import { waitMs } from './analysis.js';
import type { RunTimeline } from './timeline-types.js';

/**
 * A run as Chrome Trace Event JSON (what Perfetto, chrome://tracing and speedscope open): one
 * process per arch, one thread per agent slot, a complete (`X`) slice per build that ran.
 * Slices carry names, versions, states and counts only: no step text, failure reason or log
 * line, so nothing substituted from `--vars-file`/`--env-file` ends up in a trace.
 */

type TraceEvent =
  | { name: string; ph: 'M'; pid: number; tid?: number; args: { name: string } }
  | {
      name: string;
      cat: string;
      ph: 'X';
      ts: number;
      dur: number;
      pid: number;
      tid: number;
      args: Record<string, string | number>;
    };

export interface ChromeTrace {
  readonly traceEvents: TraceEvent[];
  readonly displayTimeUnit: 'ms';
  readonly otherData: Record<string, string>;
}

export function chromeTrace(t: RunTimeline, now = Date.now()): ChromeTrace {
  const events: TraceEvent[] = [];
  const pids = new Map<string, number>();
  const tids = new Map<string, number>();
  const pidOf = (arch: string) => {
    let pid = pids.get(arch);
    if (pid === undefined) {
      pid = pids.size + 1;
      pids.set(arch, pid);
      events.push({ name: 'process_name', ph: 'M', pid, args: { name: arch } });
    }
    return pid;
  };
  for (const a of t.arches) pidOf(a);
  const us = (ms: number) => Math.round((ms - t.startedAt) * 1000);
  const ran = t.builds.filter((b) => b.startedAt !== undefined).sort((x, y) => x.startedAt! - y.startedAt!);
  for (const b of ran) {
    const pid = pidOf(b.arch);
    const lane = `${b.agent ?? 'unknown'} slot ${b.slot ?? 0}`;
    const key = `${pid}/${lane}`;
    let tid = tids.get(key);
    if (tid === undefined) {
      tid = tids.size + 1;
      tids.set(key, tid);
      events.push({ name: 'thread_name', ph: 'M', pid, tid, args: { name: lane } });
    }
    const args: Record<string, string | number> = {
      id: b.id,
      version: b.version,
      state: b.state,
      attempts: b.attempts,
    };
    const w = waitMs(b);
    if (w !== undefined) args['queue_wait_ms'] = w;
    if (b.steps) {
      args['steps_total'] = b.steps.total;
      args['steps_cached'] = b.steps.cached;
    }
    const end = b.finishedAt ?? now;
    events.push({
      name: b.name,
      cat: `build,${b.state}`,
      ph: 'X',
      ts: us(b.startedAt!),
      dur: Math.max(1, Math.round((end - b.startedAt!) * 1000)),
      pid,
      tid,
      args,
    });
    // Stages nest inside the build's slice, each until the next one: kept 1 µs inside the build's
    // ends, so that every viewer nests them (ties order differently between viewers).
    const b0 = us(b.startedAt!) + 1;
    const b1 = us(b.startedAt!) + Math.max(1, Math.round((end - b.startedAt!) * 1000)) - 1;
    (b.stages ?? []).forEach((s, i, all) => {
      const from = Math.max(us(s.at), b0);
      const to = Math.min(us(all[i + 1]?.at ?? end), b1);
      if (to <= from) return;
      events.push({
        name: s.stage,
        cat: 'stage',
        ph: 'X',
        ts: from,
        dur: to - from,
        pid,
        tid,
        // No args: speedscope names a frame by its args too, and "solve" should be one frame.
        args: {},
      });
    });
  }
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    otherData: { runId: t.runId, startedAt: new Date(t.startedAt).toISOString() },
  };
}
