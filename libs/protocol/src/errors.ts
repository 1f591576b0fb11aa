import type { RefusalCode } from './messages.js';

/** What was wrong with a message (or a name) on the coordinator↔agent wire. */
export type ProtocolErrorCode =
  /** Not JSON, not an object, or a field missing or of the wrong shape. */
  | 'protocol-malformed'
  /** No protocol version, or one this build does not speak. */
  | 'protocol-version'
  /** Larger than the bound for its kind: refused before it is parsed. */
  | 'protocol-oversized'
  /** A namespace that cannot name NATS subjects, streams and buckets. */
  | 'protocol-namespace';

/** The kinds of message the protocol carries. */
export type MessageKind = 'job' | 'report' | 'answer' | 'event';

/** A message that was refused (decoding) or could not be sent (encoding). */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    /** The kind of message, or `namespace`. */
    readonly kind: MessageKind | 'namespace',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${kind}: ${message}`, options);
  }
}

/**
 * The coordinator answered a report with a refusal: temporary (it stopped, or could not record
 * the result: offer it again) or, with `refused`, final (the report will never be taken).
 */
export class ReportRefusedError extends Error {
  override readonly name = 'ReportRefusedError';
  readonly code = 'report-refused';
  constructor(
    readonly reason: string,
    readonly refused?: RefusalCode,
  ) {
    super(`coordinator refused the report: ${reason}`);
  }
}

/**
 * Thrown by the coordinator's report handler for a report it refuses for good (forged, replayed,
 * or not matching what was staged): answered with its code, so the agent stops offering it.
 */
export class ForgedReportError extends Error {
  override readonly name = 'ForgedReportError';
  readonly code = 'report-forged';
  constructor(
    readonly refused: RefusalCode,
    message: string,
  ) {
    super(message);
  }
}
