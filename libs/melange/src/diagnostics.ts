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
 * A config (or pipeline file) that cannot be used. `diagnostics` holds every error found (and
 * the warnings), each with file, line and column; the message is the first error.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    const first = errors[0] ?? diagnostics[0];
    super(
      first
        ? formatDiagnostic(first) + (errors.length > 1 ? ` (and ${errors.length - 1} more errors)` : '')
        : 'invalid configuration',
    );
  }

  get errors(): readonly Diagnostic[] {
    return this.diagnostics.filter((d) => d.severity === 'error');
  }
}
