// Decompression bombs against libs/apk (issue 12, "bounded inputs"): a package whose signature or
// control member, and an index whose APKINDEX, inflate to `npm run bench -- apk-bomb [MB]` MB
// (default 2048) from about 1/1000 of that compressed. Each is verified, indexed, installed or
// loaded (resolve's path) in a fresh child process, next to a normal package / index of about the
// same compressed size measured in the same run. Prints each child's peak RSS (getrusage maxrss,
// which also sees what a synchronous inflate allocates between event-loop turns) and wall time.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  addToIndexFile,
  buildIndexArchive,
  generateKeyPair,
  installPackages,
  Keyring,
  loadRepository,
  packageInfo,
  packApk,
  signingKeyFromPem,
  verifyApk,
} from '@melange2/apk';
import { writeBombApk, writeIndexBomb } from '../libs/apk/test/bombs.js';
import { syntheticEntries } from './apk-bench-lib.js';

type Op = 'verify' | 'index' | 'install' | 'resolve';
const ARCH = 'x86_64';

/** Child: one operation on one file, then a JSON line with its time, peak RSS and outcome. */
async function child(op: Op, file: string, keyPem: string, work: string, checksum: string): Promise<void> {
  const keyring = new Keyring().add('bench.rsa.pub', keyPem);
  const before = process.resourceUsage().maxRSS;
  const t = performance.now();
  let outcome = 'ok';
  try {
    if (op === 'verify') await verifyApk(file, { keyring });
    else if (op === 'index') await addToIndexFile(join(work, 'APKINDEX.tar.gz'), [file], { fresh: true });
    else if (op === 'resolve') await loadRepository({ url: join(file, '..', '..') }, ARCH, { keyring });
    else {
      const entry = {
        ...packageInfo({ name: 'bomb', version: '1-r0', arch: ARCH }),
        checksum,
        fileSize: statSync(file).size,
      };
      await installPackages({
        packages: [{ entry, repository: 0 }],
        repositories: [{ url: join(file, '..', '..') }],
        arch: ARCH,
        world: ['bomb'],
        cacheDir: join(work, 'cache'),
        dbDir: join(work, 'db'),
      });
    }
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    outcome = typeof code === 'string' ? code : (e as Error).name;
  }
  const ms = performance.now() - t;
  const peak = process.resourceUsage().maxRSS;
  process.stdout.write(`${JSON.stringify({ ms, peakKb: peak, beforeKb: before, outcome })}\n`);
}

interface Result {
  ms: number;
  peakKb: number;
  beforeKb: number;
  outcome: string;
}

function run(op: Op, file: string, keyPem: string, root: string, checksum = ''): Result {
  const work = mkdtempSync(join(root, `${op}-`));
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(
    process.execPath,
    [...process.execArgv, self, '--child', op, file, keyPem, work, checksum],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  );
  rmSync(work, { recursive: true, force: true });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    // A child killed by the OOM killer (or anything else) is a result too, not a bench failure.
    return {
      ms: Number.NaN,
      peakKb: Number.NaN,
      beforeKb: Number.NaN,
      outcome: `died (${r.signal ?? r.status})`,
    };
  }
  return JSON.parse(line) as Result;
}

async function main(): Promise<void> {
  const mb = Number(process.argv[2] ?? 2048);
  const inflated = mb * 1048576;
  const root = mkdtempSync(join(tmpdir(), 'apk-bomb-bench-'));
  try {
    const kp = await generateKeyPair(2048);
    const key = signingKeyFromPem(kp.privatePem, 'bench.rsa.pub');
    const repo = (name: string) => {
      const d = join(root, name, ARCH);
      mkdirSync(d, { recursive: true });
      return d;
    };
    const small = join(root, 'small.apk');
    await packApk({
      info: packageInfo({ name: 'bomb', version: '1-r0', arch: ARCH }),
      signingKey: key,
      output: small,
    });
    const bombs: { name: string; file: string; checksum: string; size: number }[] = [];
    for (const kind of ['signature', 'control'] as const) {
      const file = join(repo(`${kind}-bomb`), 'bomb-1-r0.apk');
      const r = await writeBombApk(small, file, kind, inflated, key);
      bombs.push({ name: `${kind} bomb`, file, ...r });
    }
    // The normal package: random (incompressible) content of the bombs' compressed size.
    const content = join(root, 'content');
    mkdirSync(content);
    writeFileSync(join(content, 'blob'), randomBytes(Math.max(1, bombs[0]!.size - 1024)));
    const normal = join(repo('normal'), 'bomb-1-r0.apk');
    const packed = await packApk({
      dir: content,
      info: packageInfo({ name: 'bomb', version: '1-r0', arch: ARCH }),
      signingKey: key,
      output: normal,
    });
    const rows: [string, number, Op, Result][] = [];
    for (const b of [
      { name: 'normal package', file: normal, checksum: packed.checksum, size: packed.fileSize },
      ...bombs,
    ]) {
      for (const op of ['verify', 'index', 'install'] as const) {
        rows.push([b.name, b.size, op, run(op, b.file, kp.publicPem, root, b.checksum)]);
      }
    }
    const bombIndex = join(repo('index-bomb'), 'APKINDEX.tar.gz');
    const bombIndexSize = await writeIndexBomb(bombIndex, inflated, key);
    // The normal index: synthetic Wolfi-like entries, about as many compressed bytes as the bomb.
    const probe = buildIndexArchive({ description: '', entries: syntheticEntries(2000) }).length / 2000;
    const normalIndex = join(repo('index-normal'), 'APKINDEX.tar.gz');
    const idx = buildIndexArchive(
      { description: 'normal', entries: syntheticEntries(Math.max(1, Math.round(bombIndexSize / probe))) },
      { signingKey: key },
    );
    writeFileSync(normalIndex, idx);
    rows.push(['normal index', idx.length, 'resolve', run('resolve', normalIndex, kp.publicPem, root)]);
    rows.push(['index bomb', bombIndexSize, 'resolve', run('resolve', bombIndex, kp.publicPem, root)]);
    const m = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
    console.log(`apk-bomb: members inflating to ${mb} MB; peak RSS of a fresh child per line (getrusage)`);
    console.log('  input            compressed  op       peak RSS  (start)   time      outcome');
    for (const [name, size, op, r] of rows) {
      console.log(
        `  ${name.padEnd(16)} ${`${(size / 1048576).toFixed(2)} MB`.padStart(10)}  ${op.padEnd(8)} ${m(r.peakKb).padStart(8)}  (${m(r.beforeKb)})  ${`${r.ms.toFixed(0)} ms`.padStart(8)}  ${r.outcome}`,
      );
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  const [, , , op, file, keyPem, work, checksum] = process.argv;
  await child(op as Op, file!, keyPem!, work!, checksum ?? '');
} else {
  await main();
}
