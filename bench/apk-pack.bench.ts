// Pack a 100 MB directory into an .apk. Goal (issue 3): at most 1.3× the time of
// `tar -c DIR | gzip -6 > /dev/null` on the same directory, measured in the same run.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, packageInfo, packApk, signingKeyFromPem } from '@melange2/apk';

/** ~100 MB: text-like files (compressible), random binaries, and 2,000 small files. */
function makeTree(root: string): number {
  let total = 0;
  const words =
    'the quick brown fox jumps over lazy dog lorem ipsum dolor sit amet build package apk index'.split(' ');
  let seed = 42;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  mkdirSync(join(root, 'usr/share/doc'), { recursive: true });
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  for (let f = 0; f < 10; f++) {
    const parts: string[] = [];
    let n = 0;
    while (n < 5 << 20) {
      const w = `${words[rnd() % words.length]}${rnd() % 7 === 0 ? '\n' : ' '}`;
      parts.push(w);
      n += w.length;
    }
    const buf = Buffer.from(parts.join(''));
    writeFileSync(join(root, 'usr/share/doc', `text${f}.txt`), buf);
    total += buf.length;
  }
  for (let f = 0; f < 4; f++) {
    const buf = randomBytes(10 << 20);
    writeFileSync(join(root, 'usr/bin', `bin${f}`), buf);
    total += buf.length;
  }
  for (let d = 0; d < 20; d++) {
    const dir = join(root, 'usr/lib/small', `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100; f++) {
      const buf = Buffer.from(`${'small file content '.repeat(250)}${d}/${f}\n`);
      writeFileSync(join(dir, `f${f}.txt`), buf);
      total += buf.length;
    }
  }
  return total;
}

const work = mkdtempSync(join(tmpdir(), 'apk-pack-bench-'));
try {
  const src = join(work, 'root');
  const bytes = makeTree(src);
  const key = signingKeyFromPem((await generateKeyPair(2048)).privatePem, 'bench.rsa.pub');
  const ref: number[] = [];
  const ours: number[] = [];
  const refCpu: number[] = [];
  const oursCpu: number[] = [];
  for (let i = 0; i < 3; i++) {
    let t = performance.now();
    // CPU time (user+sys of both processes) as well as wall time: this machine is shared.
    const r = spawnSync(
      'bash',
      ['-c', `TIMEFORMAT='%U %S'; time (tar -C "${src}" -c . | gzip -6 > /dev/null)`],
      {
        encoding: 'utf8',
      },
    );
    if (r.status !== 0) throw new Error(`tar | gzip failed: ${r.stderr}`);
    ref.push(performance.now() - t);
    const [u, s] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number) as [number, number];
    refCpu.push((u + s) * 1000);
    const out = join(work, 'out.apk');
    const c0 = process.cpuUsage();
    t = performance.now();
    await packApk({
      dir: src,
      info: packageInfo({ name: 'big', version: '1.0-r0', arch: 'x86_64' }),
      signingKey: key,
      output: out,
    });
    ours.push(performance.now() - t);
    const c = process.cpuUsage(c0);
    oursCpu.push((c.user + c.system) / 1000);
    if (!existsSync(out)) throw new Error('no output');
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[1]!;
  console.log(`apk-pack: ${(bytes / 1048576).toFixed(0)} MB in 2,014 files (median of 3)`);
  console.log(`  packApk (data gzip -6, SHA-1 per file, signed): ${med(ours).toFixed(0)} ms`);
  console.log(`  reference tar -c | gzip -6 > /dev/null:         ${med(ref).toFixed(0)} ms`);
  console.log(`  wall-time ratio ${(med(ours) / med(ref)).toFixed(2)}× (goal ≤ 1.3×)`);
  console.log(
    `  CPU time: packApk ${med(oursCpu).toFixed(0)} ms, tar|gzip ${med(refCpu).toFixed(0)} ms → ratio ${(med(oursCpu) / med(refCpu)).toFixed(2)}×`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
