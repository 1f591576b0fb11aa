import { z } from 'zod';
import { type MessageKind, ProtocolError } from './errors.js';
import { fastEvent, fastJob, fastReport } from './fast-check.js';
import {
  type AgentEvent,
  agentEventSchema,
  type BuildJob,
  type BuildReport,
  buildJobSchema,
  buildReportSchema,
  type ReportAnswer,
  reportAnswerSchema,
} from './messages.js';

/**
 * The protocol this build speaks. Every message carries it (`"protocol": 2` next to its fields);
 * a decoder refuses any other, so a coordinator and agents of incompatible builds say so instead
 * of misreading each other. 2: jobs carry a dispatch token and no repositories or keyring;
 * reports carry the token and each staged file's sha256 and size.
 */
export const PROTOCOL_VERSION = 2;

/** The largest encoded message of each kind (bytes): checked before parsing, so refusal is cheap. */
export const MAX_BYTES: Readonly<Record<MessageKind, number>> = {
  job: 64 * 1024,
  report: 512 * 1024,
  answer: 32 * 1024,
  event: 32 * 1024,
};

/** Encodes and decodes one kind of message; `decode` accepts only what `encode` could produce. */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  decode(data: Uint8Array | string): T;
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * `fast`: a hand-written check of the common shapes (fast-check.ts), tried first; what it does
 * not vouch for (undefined) goes through the schema, which refuses with the reasons.
 */
function codec<T>(kind: MessageKind, schema: z.ZodType<T>, fast?: (v: unknown) => T | undefined): Codec<T> {
  const checkSize = (n: number) => {
    if (n > MAX_BYTES[kind])
      throw new ProtocolError(
        'protocol-oversized',
        kind,
        `${n} bytes, more than the ${MAX_BYTES[kind]} allowed`,
      );
  };
  const check = (value: unknown): T => {
    const quick = fast?.(value);
    if (quick !== undefined) return quick;
    const r = schema.safeParse(value);
    if (!r.success)
      throw new ProtocolError('protocol-malformed', kind, z.prettifyError(r.error), { cause: r.error });
    return r.data;
  };
  return {
    encode(value) {
      // Checked on the way out too: a sender's bug shows where it is made, not on the far side.
      const bytes = utf8.encode(JSON.stringify({ protocol: PROTOCOL_VERSION, ...check(value) }));
      checkSize(bytes.length);
      return bytes;
    },
    decode(data) {
      const bytes = typeof data === 'string' ? utf8.encode(data) : data;
      checkSize(bytes.length);
      let raw: unknown;
      try {
        raw = JSON.parse(utf8Strict.decode(bytes));
      } catch (e) {
        throw new ProtocolError('protocol-malformed', kind, `not JSON: ${(e as Error).message}`, {
          cause: e,
        });
      }
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
        throw new ProtocolError('protocol-malformed', kind, 'not a JSON object');
      const { protocol, ...fields } = raw as Record<string, unknown>;
      if (protocol !== PROTOCOL_VERSION)
        throw new ProtocolError(
          'protocol-version',
          kind,
          protocol === undefined
            ? `no protocol version (this build speaks ${PROTOCOL_VERSION})`
            : `protocol version ${JSON.stringify(protocol)}, this build speaks ${PROTOCOL_VERSION}`,
        );
      return check(fields);
    },
  };
}

/** A build on the work queue (coordinator → agents). */
export const jobCodec: Codec<BuildJob> = codec('job', buildJobSchema, fastJob);
/** The result of an attempt (agent → coordinator, a request). */
export const reportCodec: Codec<BuildReport> = codec('report', buildReportSchema, fastReport);
/** The coordinator's answer to a report. */
export const answerCodec: Codec<ReportAnswer> = codec('answer', reportAnswerSchema);
/** Progress and heartbeats (agents → coordinator, fire and forget). */
export const eventCodec: Codec<AgentEvent> = codec('event', agentEventSchema, fastEvent);
