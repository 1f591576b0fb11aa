import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { ToolNotFoundError } from './errors.js';

/**
 * Where scripts/setup put the tools: $MELANGE2_TOOLS_DIR, else the nearest `.tools` folder
 * above `from` (the project checkout), else nothing and PATH alone is searched.
 */
export function toolsDir(from: string = process.cwd()): string | undefined {
  const env = process.env['MELANGE2_TOOLS_DIR'];
  if (env) return env;
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, '.tools', 'bin'))) return join(dir, '.tools');
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of a tool: the project's tools dir first, then PATH, then the sbin dirs. */
export function findTool(name: string, from?: string): string {
  const tools = toolsDir(from);
  const dirs = [
    ...(tools ? [join(tools, 'bin')] : []),
    ...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean),
    '/usr/sbin',
    '/sbin',
  ];
  for (const d of dirs) {
    const p = join(d, name);
    if (isExecutable(p)) return p;
  }
  throw new ToolNotFoundError(name, dirs);
}
