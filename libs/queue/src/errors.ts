/** A compare-and-set write lost: someone else wrote the key since `expected` was read. */
export class RevisionMismatchError extends Error {
  override readonly name = 'RevisionMismatchError';
  readonly code = 'REVISION_MISMATCH';
  constructor(
    readonly bucket: string,
    readonly key: string,
    readonly expected: number,
    options?: { cause?: unknown },
  ) {
    super(`${bucket}: "${key}" changed since revision ${expected}`, options);
  }
}

/** `create` of a key that exists already (how an exclusive lease is refused). */
export class KeyExistsError extends Error {
  override readonly name = 'KeyExistsError';
  readonly code = 'KEY_EXISTS';
  constructor(
    readonly bucket: string,
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`${bucket}: "${key}" exists already`, options);
  }
}

/** The queue transport failed (server unreachable, stream missing, bad configuration). */
export class QueueError extends Error {
  override readonly name = 'QueueError';
  readonly code = 'QUEUE_TRANSPORT';
  constructor(
    message: string,
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    super(`${operation}: ${message}`, options);
  }
}

/** A stored record that does not read as one (not JSON, or not of the store's schema). */
export class StateRecordError extends Error {
  override readonly name = 'StateRecordError';
  readonly code = 'state-malformed';
  constructor(
    readonly bucket: string,
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${bucket}: "${key}" is not a record this build reads: ${message}`, options);
  }
}
