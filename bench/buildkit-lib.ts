// Shared helpers for the buildkit benchmarks: daemon address, buildctl, timing.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** The x86_64 daemon of the local set (`melange2-orch daemons up`), or BUILDKIT_ADDR_X86_64. */
export function daemonAddress(): string {
  const env = process.env['BUILDKIT_ADDR_X86_64'];
  if (env) return env;
  const sock = join(repoRoot, '.melange2', 'daemons', 'x86_64', 'buildkitd.sock');
  if (existsSync(sock)) return `unix://${sock}`;
  process.stderr.write('no buildkitd: run `npx melange2-orch daemons up` or set BUILDKIT_ADDR_X86_64\n');
  process.exit(3);
}

function buildctlPath(): string {
  const p = join(process.env['MELANGE2_TOOLS_DIR'] ?? join(repoRoot, '.tools'), 'bin', 'buildctl');
  if (!existsSync(p)) {
    process.stderr.write(`buildctl not found at ${p} (run scripts/setup)\n`);
    process.exit(3);
  }
  return p;
}

/** Runs buildctl with a Definition on stdin; resolves with the wall time in ms. */
export function buildctl(args: string[], def: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(buildctlPath(), args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      if (err.length > 20_000) err = err.slice(-10_000);
    });
    p.on('error', reject);
    p.on('exit', (code) => {
      if (code === 0) resolve(performance.now() - t0);
      else reject(new Error(`buildctl ${args.join(' ')} exited ${code}:\n${err.slice(-2000)}`));
    });
    p.stdin.end(Buffer.from(def));
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}
