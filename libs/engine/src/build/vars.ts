import { readFileSync } from 'node:fs';
import yaml from 'js-yaml';

/**
 * Reads a `--vars-file`: a YAML mapping of names to scalars, merged over the config's `vars`.
 * Errors name the file and what was expected.
 */
export function readVarsFile(file: string): Record<string, string> {
  let doc: unknown;
  try {
    doc = yaml.load(readFileSync(file, 'utf8'), { schema: yaml.FAILSAFE_SCHEMA, filename: file });
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  if (doc === undefined || doc === null) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new Error(`${file}: expected a mapping of variable names to values`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof v !== 'string')
      throw new Error(
        `${file}: vars.${k} must be a scalar, got ${Array.isArray(v) ? 'a list' : 'a mapping'}`,
      );
    out[k] = v;
  }
  return out;
}
