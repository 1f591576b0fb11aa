/**
 * Whether a build used this run's packages: each name a config's environment lists that the run
 * itself built (another config's `-dev`, a tool) must appear in the build log's `environment:` line
 * at the version the run built, not as the toolchain's stand-in for the same name.
 */
import { parse } from 'yaml';
import { z } from 'zod';
import type { Finding } from './checks.js';

const configSchema = z.object({
  package: z.object({ name: z.string() }),
  environment: z
    .object({ contents: z.object({ packages: z.array(z.string()).optional() }).optional() })
    .optional(),
});

/** The names a config's build environment lists (version constraints dropped). */
export function environmentNames(configText: string): { origin: string; names: string[] } {
  const c = configSchema.parse(parse(configText));
  const names = (c.environment?.contents?.packages ?? []).map((p) => p.split(/[<>=~]/)[0]!);
  return { origin: c.package.name, names };
}

/** The packages of the `environment: N package(s): a-1.0-r0 b-2-r1` line of a build log. */
function loggedEnvironment(log: string): Set<string> | undefined {
  const line = log.split('\n').find((l) => /\benvironment: \d+ package\(s\):/.test(l));
  if (!line) return undefined;
  return new Set(
    line
      .slice(line.indexOf('package(s):') + 'package(s):'.length)
      .trim()
      .split(/\s+/),
  );
}

export function checkFreshDeps(
  configText: string,
  log: string | undefined,
  built: ReadonlyMap<string, { version: string; origin: string }>,
): Finding[] {
  const { origin, names } = environmentNames(configText);
  const wanted = names.filter((n) => built.has(n) && built.get(n)!.origin !== origin);
  if (!wanted.length) return [];
  const env = log === undefined ? undefined : loggedEnvironment(log);
  if (!env)
    return [{ package: origin, check: 'fresh-deps', message: 'no environment line in the build log' }];
  return wanted
    .filter((n) => !env.has(`${n}-${built.get(n)!.version}`))
    .map((n) => ({
      package: origin,
      check: 'fresh-deps' as const,
      message: `built without this run's ${n}-${built.get(n)!.version}`,
    }));
}
