// Overhead of a fully cached trivial solve on a warm connection (goal < 50 ms): a FileOp-only
// graph (no local dirs, no export) solved once to warm the cache, then N times. References in
// the same run: a bare Solve RPC on the same channel (no session, no status stream: the daemon's
// own share) and `buildctl build` of the same Definition (a new process and connection each time).
// Options: --runs N (default 30).
import { BuildkitClient, llb, marshal } from '@melange2/buildkit';
import { control, unary } from '@melange2/buildkit/internal';
import { buildctl, daemonAddress, fmt, median } from './buildkit-lib.js';

const i = process.argv.indexOf('--runs');
const runs = i >= 0 ? Number(process.argv[i + 1]) : 30;
const addr = daemonAddress();
const def = marshal(
  llb
    .scratch()
    .file(llb.mkdir('/etc').mkfile('/etc/bench', 0o644, 'cached solve benchmark\n'), { customName: 'tiny' }),
);
const client = await BuildkitClient.connect(addr);
await client.solve(def);
const ours: number[] = [];
const bare: number[] = [];
for (let r = 0; r < runs; r++) {
  let t0 = performance.now();
  const res = await client.solve(def);
  ours.push(performance.now() - t0);
  if (res.summary.executed > 0)
    process.stdout.write(`warning: run ${r} executed ${res.summary.executed} steps\n`);
  t0 = performance.now();
  await unary(client.grpc, 'Solve', control.SolveRequest, control.SolveResponse, {
    Ref: `bench-${r}-${Date.now()}`,
    Definition: def.toWire(),
    Cache: {},
  }).result;
  bare.push(performance.now() - t0);
}
client.close();
const ref: number[] = [];
for (let r = 0; r < Math.min(runs, 10); r++)
  ref.push(await buildctl(['--addr', addr, 'build', '--progress', 'quiet'], def.toBytes()));
const p = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))] as number;
const out = (s: string) => process.stdout.write(`${s}\n`);
out(`cached trivial solve, ${addr}`);
out(
  `ours (warm connection)   median ${fmt(median(ours))}  p90 ${fmt(p(ours, 0.9))}  min ${fmt(Math.min(...ours))}  (${runs} runs)`,
);
out(
  `bare Solve RPC           median ${fmt(median(bare))}  (client overhead ≈ ${fmt(median(ours) - median(bare))})`,
);
out(`buildctl build (process) median ${fmt(median(ref))}  p90 ${fmt(p(ref, 0.9))}  (${ref.length} runs)`);
out(`ratio ours/buildctl ${(median(ours) / median(ref)).toFixed(2)}×; goal: ours < 50 ms`);
