// /metrics as the Prometheus project's own parser reads it (prom2json, installed by scripts/setup).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '@melange2/test/os';

interface Sample {
  readonly labels?: Record<string, string>;
  readonly value?: string;
  readonly count?: string;
  readonly sum?: string;
  readonly buckets?: Record<string, string>;
}
export interface Family {
  readonly name: string;
  readonly type: string;
  readonly metrics: readonly Sample[];
}

const PROM2JSON =
  [join(ROOT, '.tools', 'bin', 'prom2json'), '/usr/local/bin/prom2json'].find(existsSync) ?? 'prom2json';

export function parseMetrics(text: string): Family[] {
  const r = spawnSync(PROM2JSON, [], { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`prom2json failed (${r.status}): ${r.stderr}${r.error ?? ''}`);
  return JSON.parse(r.stdout) as Family[];
}

/** The sample of a family whose labels include `labels`. */
export function sample(
  families: readonly Family[],
  name: string,
  labels: Record<string, string> = {},
): Sample | undefined {
  return families
    .find((f) => f.name === name)
    ?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
}

/** A counter's or gauge's value (0 when absent). */
export const value = (f: readonly Family[], name: string, labels: Record<string, string> = {}): number =>
  Number(sample(f, name, labels)?.value ?? 0);
