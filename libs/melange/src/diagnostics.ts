import type { PipelineLimitCode } from './limits.js';
/** Where a value sits in a YAML document: keys and sequence indexes from the root. */
export type YamlPath = readonly (string | number)[];

type Severity = 'error' | 'warning';

/** One finding about a config or pipeline file, located once the whole file has been checked. */
export interface Diagnostic {
  readonly severity: Severity;
  readonly file: string;
  readonly path: YamlPath;
  readonly message: string;
  /** 1-based; 0 when the position is unknown. */
  readonly line: number;
  readonly column: number;
}

export function formatPath(path: YamlPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    // Keys such as "3.10" (range items) or "FOO BAR" would read as a path; quote them.
    else if (!/^[A-Za-z0-9_-]+$/.test(p)) out += `[${JSON.stringify(p)}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out === '' ? '(document)' : out;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file;
  const at = d.path.length > 0 ? `${formatPath(d.path)}: ` : '';
  return `${where}: ${d.severity}: ${at}${d.message}`;
}

/**
 * What made a config (or pipeline file) unusable: `CONFIG_YAML` not YAML, `CONFIG_INVALID` the
 * schema or melange's checks, `CONFIG_VAR_TRANSFORM` a var-transform, `CONFIG_BUILD_OPTION` a
 * `--build-option` the config does not define, `PIPELINE_INVALID` a `uses:` pipeline file,
 * `CONFIG_TOO_LARGE` a file over MAX_CONFIG_BYTES, and the `uses:` expansion limits of
 * ./limits.ts (`PIPELINE_CYCLE`, `PIPELINE_DEPTH`, `PIPELINE_TOO_MANY_STEPS`),
 * `CONFIG_VERSION` a `package.version` that is not an apk version, `CONFIG_UNTERMINATED_VARIABLE`
 * a `${{` with no `}}`.
 */
export type ConfigErrorCode =
  | PipelineLimitCode
  | 'CONFIG_TOO_LARGE'
  | 'CONFIG_UNTERMINATED_VARIABLE'
  | 'CONFIG_VERSION'
  | 'CONFIG_YAML'
  | 'CONFIG_INVALID'
  | 'CONFIG_VAR_TRANSFORM'
  | 'CONFIG_BUILD_OPTION'
  | 'PIPELINE_INVALID';

/**
 * A config (or pipeline file) that cannot be used. `diagnostics` holds every error found (and
 * the warnings), each with file, line and column; the message is the first error.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code: ConfigErrorCode;
  constructor(
    readonly diagnostics: readonly Diagnostic[],
    options: { code?: ConfigErrorCode; cause?: unknown } = {},
  ) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const first = errors[0] ?? diagnostics[0];
    super(
      first
        ? formatDiagnostic(first) + (errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : '')
        : 'invalid configuration',
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.code = options.code ?? 'CONFIG_INVALID';
  }

  get errors(): readonly Diagnostic[] {
    return this.diagnostics.filter((d) => d.severity === 'error');
  }

  /** The file of the first error (or diagnostic); '' when there is none. */
  get file(): string {
    return (this.errors[0] ?? this.diagnostics[0])?.file ?? '';
  }

  /** The 1-based line of the first error; 0 when unknown. */
  get line(): number {
    return (this.errors[0] ?? this.diagnostics[0])?.line ?? 0;
  }
}
