/**
 * Benchmarks measure the TypeScript sources, never stale dist/ builds: node runs them with the
 * `@melange2/source` export condition and tsx as an `--import` hook (tsx's CLI would re-spawn node
 * and drop the condition). `npm run bench` starts them so; run directly with plain node, a bench
 * re-runs itself that way first.
 */
import { spawnSync } from 'node:child_process';

/** The node arguments that run a bench file, or a child process of one, on the sources. */
export const SOURCE_NODE_ARGS = ['--conditions=@melange2/source', '--import', 'tsx'] as const;

/**
 * Unless `probe` (a workspace package) already resolves to its sources, runs `file` again on
 * them with the same arguments and exits with its status.
 */
export function runOnSources(file: string, probe: string): void {
  if (import.meta.resolve(probe).endsWith('.ts')) return;
  const r = spawnSync(process.execPath, [...SOURCE_NODE_ARGS, file, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}
