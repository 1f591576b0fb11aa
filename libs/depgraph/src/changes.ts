/**
 * `--changed-since <ref>`: configs whose file changed (committed, staged, unstaged or new) since a
 * git ref, and configs that use a repository pipeline that changed.
 */
import { execFileSync } from 'node:child_process';
import type { ConfigNode } from './model.js';

export class ChangeDetectionError extends Error {
  override readonly name = 'ChangeDetectionError';
  constructor(
    /** `CHANGED_SINCE_REF`: the ref names no commit; `GIT`: git itself failed. */
    readonly code: 'CHANGED_SINCE_REF' | 'GIT',
    readonly repo: string,
    readonly ref: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`--changed-since ${ref}: ${message} (in ${repo})`, options);
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
    const said = err.stderr?.trim().split('\n')[0];
    throw new ChangeDetectionError('GIT', repo, ref, said ? `git: ${said}` : `git ${args[0]} failed`, {
      cause: e,
    });
  }
}

/** Paths relative to `repo` that differ from `ref` in the working tree, plus untracked files. */
export function changedFiles(repo: string, ref: string): Set<string> {
  const notACommit = (cause?: unknown) =>
    new ChangeDetectionError(
      'CHANGED_SINCE_REF',
      repo,
      ref,
      'no such commit here: give a commit, branch or tag of this repository (e.g. HEAD~1, origin/main)',
      { cause },
    );
  if (ref.startsWith('-')) throw notACommit();
  try {
    git(repo, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], ref);
  } catch (e) {
    // `--quiet` leaves stderr empty for an unknown ref; a git that could not run says why.
    if (e instanceof ChangeDetectionError && e.message.includes('git: ')) throw e;
    throw notACommit(e);
  }
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
