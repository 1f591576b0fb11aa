/**
 * `--changed-since <ref>`: configs whose file changed (committed, staged, unstaged or new) since a
 * git ref, and configs that use a repository pipeline that changed.
 */
import { execFileSync } from 'node:child_process';
import type { ConfigNode } from './model.js';

export class ChangeDetectionError extends Error {
  override readonly name = 'ChangeDetectionError';
  constructor(
    readonly repo: string,
    readonly ref: string,
    message: string,
  ) {
    super(`--changed-since ${ref}: ${message} (in ${repo})`);
  }
}

function git(repo: string, args: string[], ref: string): string {
  try {
    return execFileSync('git', args, {
      cwd: repo,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new ChangeDetectionError(
      repo,
      ref,
      (err.stderr || err.message).trim().split('\n')[0] ?? 'git failed',
    );
  }
}

/** Paths relative to `repo` that differ from `ref` in the working tree, plus untracked files. */
export function changedFiles(repo: string, ref: string): Set<string> {
  if (ref.startsWith('-')) throw new ChangeDetectionError(repo, ref, 'not a git ref');
  git(repo, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], ref);
  const diff = git(repo, ['diff', '--name-only', '--relative', '-z', ref, '--'], ref);
  const untracked = git(repo, ['ls-files', '--others', '--exclude-standard', '-z'], ref);
  return new Set([...diff.split('\0'), ...untracked.split('\0')].filter((s) => s.length > 0));
}

export interface ChangedConfig {
  name: string;
  reason: string;
}

/** Which nodes changed: their own file, or a repository pipeline they use (nested uses included). */
export function changedConfigs(nodes: readonly ConfigNode[], files: ReadonlySet<string>): ChangedConfig[] {
  const pipelines = new Set<string>();
  for (const f of files) {
    if (f.startsWith('pipelines/') && f.endsWith('.yaml'))
      pipelines.add(f.slice('pipelines/'.length, -'.yaml'.length));
  }
  const out: ChangedConfig[] = [];
  for (const n of nodes) {
    if (files.has(n.file)) out.push({ name: n.name, reason: 'changed' });
    else {
      const p = n.repoPipelines.find((x) => pipelines.has(x));
      if (p) out.push({ name: n.name, reason: `pipeline changed: ${p}` });
    }
  }
  return out;
}
