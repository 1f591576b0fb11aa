import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeEntry {
  readonly type: 'dir' | 'file' | 'symlink';
  readonly perm: number;
  readonly size: number;
  /** sha256 for files, the target for symlinks. */
  readonly content: string;
  readonly mtimeMs: number;
}

async function hashFile(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(p, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Every entry below `root` with type, permission bits, size, content hash and mtime. */
export async function snapshot(root: string): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const visit = async (dir: string, rel: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const abs = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = await lstat(abs);
      const perm = st.mode & 0o7777;
      if (st.isDirectory()) {
        out.set(r, { type: 'dir', perm, size: 0, content: '', mtimeMs: st.mtimeMs });
        await visit(abs, r);
      } else if (st.isSymbolicLink()) {
        out.set(r, { type: 'symlink', perm: 0, size: 0, content: await readlink(abs), mtimeMs: st.mtimeMs });
      } else {
        out.set(r, { type: 'file', perm, size: st.size, content: await hashFile(abs), mtimeMs: st.mtimeMs });
      }
    }
  };
  await visit(root, '');
  return out;
}

export interface TreeSpec {
  readonly smallFiles: number;
  readonly bigFileBytes: number;
}

/**
 * Builds a test tree: `smallFiles` files in 100-file directories with modes 0644/0755/0600,
 * one big file, symlinks (relative, absolute, dangling), empty dirs, a 0700 dir, and names
 * whose bytewise order differs from full-path order (`testproj` / `testproj.sub`).
 */
export async function makeTree(root: string, spec: TreeSpec): Promise<void> {
  const modes = [0o644, 0o755, 0o600];
  const perDir = 100;
  for (let d = 0; d * perDir < spec.smallFiles; d++) {
    const dir = join(root, 'many', `d${String(d).padStart(3, '0')}`);
    await mkdir(dir, { recursive: true });
    const n = Math.min(perDir, spec.smallFiles - d * perDir);
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        // The default umask (022) keeps all three modes intact.
        await writeFile(join(dir, `f${i}.txt`), `file ${d}/${i}\n`.repeat(1 + (i % 7)), {
          mode: modes[i % 3],
        });
      }),
    );
  }
  if (spec.bigFileBytes > 0) {
    const fh = await open(join(root, 'big.bin'), 'w', 0o644);
    const block = randomBytes(1 << 20);
    for (let off = 0; off < spec.bigFileBytes; off += block.length) {
      block.writeUInt32LE(off / block.length, 0);
      await fh.write(block, 0, Math.min(block.length, spec.bigFileBytes - off));
    }
    await fh.close();
  }
  await mkdir(join(root, 'testproj'), { recursive: true });
  await writeFile(join(root, 'testproj', 'Program.cs'), 'class P {}\n');
  await mkdir(join(root, 'testproj.sub'));
  await writeFile(join(root, 'testproj.sub', 'x'), 'x');
  await mkdir(join(root, 'empty', 'nested', 'deeper'), { recursive: true });
  await mkdir(join(root, 'private'), { mode: 0o700 });
  await chmod(join(root, 'private'), 0o700);
  await writeFile(join(root, 'private', 'secret.txt'), 'p', { mode: 0o600 });
  await writeFile(join(root, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await chmod(join(root, 'run.sh'), 0o755);
  await writeFile(join(root, 'ünïcode名.txt'), 'u');
  await symlink('run.sh', join(root, 'link-rel'));
  await symlink('/etc/passwd', join(root, 'link-abs'));
  await symlink('does/not/exist', join(root, 'link-dangling'));
  await symlink('testproj', join(root, 'link-dir'));
  // Fixed mtimes with sub-second parts, to see them survive the round trip.
  await utimes(join(root, 'run.sh'), 1_600_000_000.123456, 1_600_000_000.123456);
}

export function diffTrees(a: Map<string, TreeEntry>, b: Map<string, TreeEntry>): string[] {
  const problems: string[] = [];
  for (const [k, va] of a) {
    const vb = b.get(k);
    if (!vb) {
      problems.push(`missing ${k}`);
      continue;
    }
    if (va.type !== vb.type || va.perm !== vb.perm || va.size !== vb.size || va.content !== vb.content) {
      problems.push(`differs ${k}: ${JSON.stringify(va)} vs ${JSON.stringify(vb)}`);
    } else if (va.type !== 'dir' && Math.abs(va.mtimeMs - vb.mtimeMs) >= 1) {
      problems.push(`mtime ${k}: ${va.mtimeMs} vs ${vb.mtimeMs}`);
    }
  }
  for (const k of b.keys()) if (!a.has(k)) problems.push(`extra ${k}`);
  return problems;
}
