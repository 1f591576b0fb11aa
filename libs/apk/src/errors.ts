/** What went wrong, so callers (and tests) can react without parsing messages. */
export type ApkErrorCode =
  | 'bad-dependency'
  | 'bad-version'
  | 'bad-pkginfo'
  | 'bad-index'
  | 'bad-gzip'
  | 'bad-tar'
  | 'truncated'
  | 'no-control'
  | 'unsigned'
  | 'untrusted'
  | 'bad-signature'
  | 'identity-mismatch'
  | 'datahash-mismatch'
  | 'file-checksum-mismatch'
  | 'unsafe-path'
  | 'file-conflict'
  | 'bad-key'
  | 'exists'
  | 'unsatisfiable'
  | 'fetch-failed'
  | 'io'
  // Over a size limit of limits.ts (checked while inflating, before the bytes are held).
  | 'limit-signature'
  | 'limit-control'
  | 'limit-pkginfo'
  | 'limit-index'
  | 'limit-tar-header';

/** Every failure of this library: a code plus a message that names the file, package or entry. */
export class ApkError extends Error {
  override readonly name = 'ApkError';
  constructor(
    readonly code: ApkErrorCode,
    message: string,
    readonly context: { file?: string; pkg?: string; entry?: string; line?: number } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
