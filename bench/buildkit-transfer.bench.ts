// Local source upload and local export of a ~500 MB tree (many small files + one large file)
// through @melange2/buildkit vs `buildctl build` doing the same transfer on the same daemon.
// Goal (issue 4): ≤ 1.3× buildctl. `local.differ=none` makes the daemon request every file on
// every run, so neither client benefits from an earlier sync.
// Options: --mb N (default 500), --files N (default 20000), --runs N (default 2).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildkitClient, llb, marshal } from '@melange2/buildkit';
import { buildctl, daemonAddress, fmt, median } from './buildkit-lib.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const totalMb = arg('mb', 500);
const files = arg('files', 20_000);
const runs = arg('runs', 2);
const smallBytes = 5 * 1024;
const bigBytes = Math.max(0, totalMb * 1024 * 1024 - files * smallBytes);

async function makeTree(root: string): Promise<void> {
  const blob = randomBytes(smallBytes);
  for (let d = 0; d * 200 < files; d++) {
    const dir = join(root, 'small', `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 200 && d * 200 + i < files; i++) {
      blob.writeUInt32LE(d * 200 + i, 0);
      writeFileSync(join(dir, `f${i}`), blob);
    }
  }
  const fh = await open(join(root, 'big.bin'), 'w');
  const block = randomBytes(4 << 20);
  for (let off = 0; off < bigBytes; off += block.length)
    await fh.write(block, 0, Math.min(block.length, bigBytes - off));
  await fh.close();
}

const addr = daemonAddress();
const work = mkdtempSync(join(tmpdir(), 'm2-bench-transfer-'));
try {
  const src = join(work, 'src');
  mkdirSync(src);
  process.stdout.write(
    `creating ${totalMb} MB tree: ${files} files of 5 KiB + one ${(bigBytes / 2 ** 20).toFixed(0)} MiB file…\n`,
  );
  await makeTree(src);
  const def = marshal(llb.local('src', { differ: 'none' }));
  const defBytes = def.toBytes();
  writeFileSync(join(work, 'def.pb'), defBytes);
  const client = await BuildkitClient.connect(addr);
  const times = {
    oursUp: [] as number[],
    oursRt: [] as number[],
    bkUp: [] as number[],
    bkRt: [] as number[],
  };
  for (let r = 0; r < runs; r++) {
    const out1 = join(work, `ours-${r}`);
    const out2 = join(work, `buildctl-${r}`);
    let t0 = performance.now();
    await client.solve(def, { localDirs: { src } });
    times.oursUp.push(performance.now() - t0);
    times.bkUp.push(
      await buildctl(['--addr', addr, 'build', '--progress', 'plain', '--local', `src=${src}`], defBytes),
    );
    t0 = performance.now();
    await client.solve(def, { localDirs: { src }, exports: [{ type: 'local', dest: out1 }] });
    times.oursRt.push(performance.now() - t0);
    times.bkRt.push(
      await buildctl(
        [
          '--addr',
          addr,
          'build',
          '--progress',
          'plain',
          '--local',
          `src=${src}`,
          '--output',
          `type=local,dest=${out2}`,
        ],
        defBytes,
      ),
    );
    rmSync(out1, { recursive: true, force: true });
    rmSync(out2, { recursive: true, force: true });
  }
  client.close();
  const row = (label: string, ours: number[], ref: number[]) => {
    const o = median(ours);
    const b = median(ref);
    process.stdout.write(
      `${label.padEnd(26)} ours ${fmt(o).padStart(10)}   buildctl ${fmt(b).padStart(10)}   ratio ${(o / b).toFixed(2)}×\n`,
    );
  };
  process.stdout.write(`\nmedian of ${runs} runs each, ${addr}\n`);
  row('upload', times.oursUp, times.bkUp);
  row('upload + local export', times.oursRt, times.bkRt);
  const exp = (a: number[], b: number[]) => a.map((x, i) => x - (b[i] ?? 0));
  row('local export (difference)', exp(times.oursRt, times.oursUp), exp(times.bkRt, times.bkUp));
  process.stdout.write('goal: ratio ≤ 1.3×\n');
} finally {
  rmSync(work, { recursive: true, force: true });
}
