/**
 * One repository file → what the scan keeps of it, through @melange2/melange's parse. Runs in the
 * parse workers as well as in-process.
 */
import {
  ConfigError,
  formatPath,
  graphStep,
  loadYaml,
  parseGraphConfig,
  parsePipelineFile,
} from '@melange2/melange';
import type { ParseResult, ScanProblem } from './types.js';

function problem(file: string, e: ConfigError): ScanProblem {
  const d = e.errors[0] ?? e.diagnostics[0];
  const message = d ? `${d.path.length ? `${formatPath(d.path)}: ` : ''}${d.message}` : e.message;
  return { file, ...(d && d.line > 0 ? { line: d.line } : {}), message, code: e.code };
}

/** Parses one file. `pipelineName` set means a repository pipeline, else a candidate config. */
export function parseFile(text: string, file: string, pipelineName?: string): ParseResult {
  if (pipelineName !== undefined) {
    const r = parsePipelineFile(pipelineName, file, text, false);
    if (r instanceof ConfigError) return { kind: 'error', problem: problem(file, r) };
    return { kind: 'pipeline', pipeline: { name: pipelineName, file, definition: graphStep(r.pipeline) } };
  }
  try {
    return { kind: 'config', config: parseGraphConfig(text, file) };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    // A YAML file without a `package:` section is not a melange config: not a problem.
    if (!hasPackage(text, file)) return { kind: 'skip' };
    return { kind: 'error', problem: problem(file, e) };
  }
}

function hasPackage(text: string, file: string): boolean {
  try {
    const doc = loadYaml(text, file);
    return typeof doc === 'object' && doc !== null && !Array.isArray(doc) && 'package' in doc;
  } catch {
    return true; // invalid YAML is reported as such
  }
}
