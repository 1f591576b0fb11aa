import { readFileSync } from 'node:fs';
import { isMapping, loadYaml } from './yaml.js';

/** A `--vars-file` that cannot be used. */
class VarsFileError extends Error {
  override readonly name = 'VarsFileError';
  readonly code = 'VARS_FILE';
  constructor(
    readonly file: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${reason}`, options);
  }
}

/**
 * Reads a `--vars-file`: a YAML mapping of names to scalars, merged over the config's `vars`.
 * Errors name the file and what was expected.
 */
export function readVarsFile(file: string): Record<string, string> {
  let doc: ReturnType<typeof loadYaml>;
  try {
    doc = loadYaml(readFileSync(file, 'utf8'), file);
  } catch (e) {
    throw new VarsFileError(file, (e as Error).message, { cause: e });
  }
  if (doc === null) return {};
  if (!isMapping(doc)) throw new VarsFileError(file, 'expected a mapping of variable names to values');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (typeof v !== 'string' && v !== null)
      throw new VarsFileError(
        file,
        `vars.${k} must be a scalar, got ${Array.isArray(v) ? 'a list' : 'a mapping'}`,
      );
    out[k] = v ?? '';
  }
  return out;
}
