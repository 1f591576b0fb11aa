import { describe, expect, it } from 'vitest';
import {
  type AgentEvent,
  answerCodec,
  type BuildJob,
  type BuildReport,
  type Codec,
  eventCodec,
  failedOutcome,
  jobCodec,
  MAX_AWAITING,
  MAX_BYTES,
  MAX_LOG_LINES,
  PROTOCOL_VERSION,
  ProtocolError,
  type ProtocolErrorCode,
  reportCodec,
} from '../src/index.js';
import { fastEvent, fastJob, fastReport } from '../src/fast-check.js';
import { agentEventSchema, buildJobSchema, buildReportSchema } from '../src/messages.js';
import type { z } from 'zod';

const job: BuildJob = {
  runId: 'r1',
  id: 'libstdc++@aarch64',
  name: 'libstdc++',
  arch: 'aarch64',
  version: '14.2.0-r3',
  configFile: 'gcc.yaml',
  attempt: 2,
  token: 'ab'.repeat(32),
  generation: '5e1f00aa-3',
  cost: 90_000,
};
const succeeded: BuildReport = {
  runId: 'r1',
  id: job.id,
  attempt: 2,
  token: job.token,
  agent: 'host-aarch64-1',
  durationMs: 1234.5,
  outcome: {
    kind: 'succeeded',
    apks: [
      {
        filename: 'libstdc++-14.2.0-r3.apk',
        key: 'r1/libstdc++_aarch64/2/aarch64/x.apk',
        sha256: 'cd'.repeat(32),
        size: 4096,
      },
    ],
    steps: { total: 12, cached: 4 },
  },
};
const failed: BuildReport = {
  ...succeeded,
  outcome: { kind: 'failed', stage: 'solve', message: 'step "make" failed', logTail: ['boom'] },
};
const events: AgentEvent[] = [
  { type: 'started', runId: 'r1', id: job.id, attempt: 2, token: job.token, agent: 'a' },
  {
    type: 'transient',
    runId: 'r1',
    id: job.id,
    attempt: 2,
    token: job.token,
    agent: 'a',
    message: 'daemon unreachable',
  },
  { type: 'heartbeat', agent: 'a', arch: 'aarch64', slots: 4, busy: 1, alive: true },
  { type: 'heartbeat', agent: 'a', arch: 'aarch64', slots: 4, busy: 4, alive: true, prefetch: 1 },
];

const raw = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const wire = (v: object) => raw({ protocol: PROTOCOL_VERSION, ...v });

function refusal(c: Codec<unknown>, data: Uint8Array | string): { code: ProtocolErrorCode; message: string } {
  try {
    c.decode(data);
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    const p = e as ProtocolError;
    return { code: p.code, message: p.message };
  }
  throw new Error('decoded');
}

describe('round trip', () => {
  it('every kind of message decodes to what was encoded, with the protocol version on the wire', () => {
    expect(jobCodec.decode(jobCodec.encode(job))).toEqual(job);
    expect(reportCodec.decode(reportCodec.encode(succeeded))).toEqual(succeeded);
    expect(reportCodec.decode(reportCodec.encode(failed))).toEqual(failed);
    for (const e of events) expect(eventCodec.decode(eventCodec.encode(e))).toEqual(e);
    for (const a of [
      { ok: true },
      { ok: true, stale: true },
      { ok: false, error: 'stopped' },
      { ok: false, error: 'forged', refused: 'wrong-token' },
    ] as const)
      expect(answerCodec.decode(answerCodec.encode(a))).toEqual(a);
    expect(JSON.parse(new TextDecoder().decode(jobCodec.encode(job)))).toMatchObject({ protocol: 2 });
  });

  it('jobs and reports are strict: a field the protocol does not have is refused, never obeyed', () => {
    // Protocol 1 let a job name the repositories and keys its environment installs from.
    expect(
      refusal(
        jobCodec,
        wire({ ...job, repositories: ['http://attacker/repo'], keyring: ['http://attacker/k.pub'] }),
      ),
    ).toMatchObject({ code: 'protocol-malformed', message: /repositories|keyring/ });
    expect(refusal(jobCodec, wire({ ...job, extra: 'x' }))).toMatchObject({ code: 'protocol-malformed' });
    expect(refusal(reportCodec, wire({ ...succeeded, extra: 'x' }))).toMatchObject({
      code: 'protocol-malformed',
    });
  });

  it('a job may name what the run is still to produce (awaiting), bounded; an awaiting outcome round-trips', () => {
    const awaiting = { ...job, awaiting: ['flex', 'libfl', 'cmd:flex'] };
    expect(jobCodec.decode(jobCodec.encode(awaiting))).toEqual(awaiting);
    // A job without it is protocol 2 as before; an empty list is never sent.
    expect(refusal(jobCodec, wire({ ...job, awaiting: [] }))).toMatchObject({ code: 'protocol-malformed' });
    const many = Array.from({ length: MAX_AWAITING + 1 }, (_, i) => `p${i}`);
    expect(refusal(jobCodec, wire({ ...job, awaiting: many }))).toMatchObject({ message: /awaiting/ });
    const report = {
      ...failed,
      outcome: { kind: 'awaiting', name: 'flex', message: 'would install flex-2.6-r0' },
    } as const;
    expect(reportCodec.decode(reportCodec.encode(report))).toEqual(report);
    expect(refusal(reportCodec, wire({ ...report, outcome: { ...report.outcome, extra: 1 } }))).toMatchObject(
      { code: 'protocol-malformed' },
    );
  });

  it('a dispatch token is 64 hex digits; a report without one, or a staged file without its sha256, is refused', () => {
    expect(refusal(jobCodec, wire({ ...job, token: 'short' }))).toMatchObject({ message: /token/ });
    const { token: _, ...noToken } = succeeded;
    expect(refusal(reportCodec, wire(noToken))).toMatchObject({ message: /token/ });
    // Started and transient events name the job they are about by its token too.
    for (const e of events.filter((x) => x.type !== 'heartbeat')) {
      const { token: _t, ...bare } = e as Extract<AgentEvent, { token: string }>;
      expect(refusal(eventCodec, wire(bare))).toMatchObject({ message: /token/ });
    }
    const apk = { filename: 'x-1-r0.apk', key: 'k' };
    expect(
      refusal(reportCodec, wire({ ...succeeded, outcome: { ...succeeded.outcome, apks: [apk] } })),
    ).toMatchObject({ message: /sha256/ });
    expect(refusal(jobCodec, wire({ ...job, generation: '../x' }))).toMatchObject({ message: /generation/ });
  });

  it('a failed outcome is clipped to the bounds, keeping the end of the log', () => {
    const lines = Array.from({ length: 500 }, (_, i) => `line ${i} ${'x'.repeat(5000)}`);
    const o = failedOutcome('solve', 'y'.repeat(100_000), lines);
    expect(o.logTail).toHaveLength(MAX_LOG_LINES);
    expect(o.logTail.at(-1)?.startsWith('line 499')).toBe(true);
    expect(reportCodec.decode(reportCodec.encode({ ...failed, outcome: o }))).toEqual({
      ...failed,
      outcome: o,
    });
  });
});

describe('refused messages', () => {
  it('not JSON, not an object, or not UTF-8', () => {
    expect(refusal(reportCodec, '{"protocol":2,')).toMatchObject({ code: 'protocol-malformed' });
    expect(refusal(reportCodec, '[1,2]')).toMatchObject({ code: 'protocol-malformed' });
    expect(refusal(reportCodec, 'null')).toMatchObject({ code: 'protocol-malformed' });
    expect(refusal(eventCodec, new Uint8Array([0xff, 0xfe]))).toMatchObject({ code: 'protocol-malformed' });
  });

  it('no version, or one this build does not speak', () => {
    expect(refusal(jobCodec, raw(job))).toEqual({
      code: 'protocol-version',
      message: 'job: no protocol version (this build speaks 2)',
    });
    expect(refusal(jobCodec, raw({ protocol: 1, ...job }))).toMatchObject({ code: 'protocol-version' });
    expect(refusal(eventCodec, raw({ protocol: '1', ...events[2] }))).toMatchObject({
      code: 'protocol-version',
    });
  });

  it('a field missing, of the wrong type or out of range, naming the field', () => {
    const { runId: _, ...noRun } = job;
    expect(refusal(jobCodec, wire(noRun))).toMatchObject({ code: 'protocol-malformed', message: /runId/ });
    expect(refusal(jobCodec, wire({ ...job, attempt: '2' }))).toMatchObject({ message: /attempt/ });
    expect(refusal(jobCodec, wire({ ...job, attempt: -1 }))).toMatchObject({ message: /attempt/ });
    expect(refusal(jobCodec, wire({ ...job, configFile: 7 }))).toMatchObject({ message: /configFile/ });
    expect(refusal(reportCodec, wire({ ...succeeded, outcome: { kind: 'exploded' } }))).toMatchObject({
      code: 'protocol-malformed',
    });
    expect(
      refusal(reportCodec, wire({ ...failed, outcome: { ...failed.outcome, logTail: [1] } })),
    ).toMatchObject({ code: 'protocol-malformed', message: /logTail/ });
    expect(refusal(eventCodec, wire({ type: 'heartbeat', agent: 'a' }))).toMatchObject({
      code: 'protocol-malformed',
    });
    expect(refusal(eventCodec, wire({ ...events[0], type: 'finished' }))).toMatchObject({
      code: 'protocol-malformed',
    });
    expect(refusal(answerCodec, wire({ ok: 'yes' }))).toMatchObject({ code: 'protocol-malformed' });
  });

  it('an oversized payload is refused before it is parsed', () => {
    const big = new Uint8Array(MAX_BYTES.event + 1).fill(0x20);
    expect(refusal(eventCodec, big)).toMatchObject({ code: 'protocol-oversized' });
    const apk = succeeded.outcome.kind === 'succeeded' ? succeeded.outcome.apks[0]! : undefined;
    const huge = {
      ...succeeded,
      outcome: {
        kind: 'succeeded' as const,
        apks: Array.from({ length: 4000 }, () => apk!),
        steps: { total: 1, cached: 0 },
      },
    };
    expect(() => reportCodec.encode(huge)).toThrow(expect.objectContaining({ code: 'protocol-oversized' }));
  });

  it('a sender cannot encode what a receiver would refuse', () => {
    expect(() => jobCodec.encode({ ...job, attempt: 1.5 })).toThrow(ProtocolError);
  });
});

describe('the hand-written checks of the hot messages vouch only for what the schemas accept', () => {
  const started: AgentEvent = {
    type: 'started',
    runId: 'r1',
    id: 'a@x86_64',
    attempt: 1,
    token: 'cd'.repeat(32),
    agent: 'a0',
  };
  const beat: AgentEvent = { type: 'heartbeat', agent: 'a0', arch: 'x86_64', slots: 4, busy: 1, alive: true };
  const succeeded: BuildReport = {
    runId: 'r1',
    id: 'a@x86_64',
    attempt: 1,
    token: 'cd'.repeat(32),
    agent: 'a0',
    durationMs: 12.5,
    outcome: {
      kind: 'succeeded',
      apks: [{ filename: 'a-1-r0.apk', key: 'r1/a@x86_64/1/a-1-r0.apk', sha256: 'ef'.repeat(32), size: 10 }],
      steps: { total: 3, cached: 1 },
    },
  };
  const values: readonly unknown[] = [
    -1,
    0,
    1.5,
    '',
    'x'.repeat(1025),
    'x'.repeat(257),
    null,
    [],
    ['a'],
    {},
    true,
    'G'.repeat(64),
    'ab'.repeat(32),
    Number.MAX_SAFE_INTEGER + 2,
    undefined,
  ];
  /** The message with each field (nested ones too) replaced by each value, and with a key too many. */
  function mutations(v: Record<string, unknown>): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [{ ...v, extra: 1 }];
    for (const [k, x] of Object.entries(v)) {
      for (const y of values) out.push({ ...v, [k]: y });
      if (typeof x === 'object' && x !== null && !Array.isArray(x))
        for (const m of mutations(x as Record<string, unknown>)) out.push({ ...v, [k]: m });
      if (Array.isArray(x) && typeof x[0] === 'object')
        for (const m of mutations(x[0] as Record<string, unknown>)) out.push({ ...v, [k]: [m] });
    }
    return out;
  }
  const cases: [string, (v: unknown) => unknown, z.ZodType, Record<string, unknown>][] = [
    ['job', fastJob, buildJobSchema, { ...job }],
    ['started', fastEvent, agentEventSchema, { ...started }],
    ['heartbeat', fastEvent, agentEventSchema, { ...beat }],
    ['heartbeat with prefetch', fastEvent, agentEventSchema, { ...beat, prefetch: 1 }],
    ['report', fastReport, buildReportSchema, succeeded as unknown as Record<string, unknown>],
  ];
  for (const [what, fast, schema, valid] of cases)
    it(`${what}: the valid one passes; of ${mutations(valid).length} variants, it passes none the schema refuses or changes`, () => {
      expect(fast(valid)).toEqual(schema.parse(valid));
      let vouched = 0;
      for (const m of mutations(valid)) {
        const f = fast(structuredClone(m));
        if (f === undefined) continue;
        vouched++;
        const r = schema.safeParse(m);
        expect(r.success, JSON.stringify(m).slice(0, 200)).toBe(true);
        expect(f).toEqual(r.data);
        // Nothing the schema would strip: a key present in the message is in the result.
        const keys = (o: object) =>
          Object.entries(o)
            .filter(([, x]) => x !== undefined)
            .map(([k]) => k)
            .sort();
        expect(keys(f as object)).toEqual(keys(r.data as object));
      }
      expect(vouched).toBeGreaterThan(0);
    });
});
