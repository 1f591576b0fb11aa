// Where a process inside a build step loses time against a chroot of the same root (issue 15's
// cold ÷ chroot): each cause measured on its own. One private buildkitd that allows
// `security.insecure` (as a measurement only: builds never ask for it), one environment (the
// packages of `--package`, default json-c), and the same workload run as one exec per variant:
//   default   the engine's exec (build user, /home/build, the sources at /var/cache/melange)
//   insecure  the same without seccomp and with all capabilities (SecurityMode INSECURE)
//   tmpfs     /tmp a tmpfs mount (melange's bubblewrap runner gives the build a fresh /tmp)
//   flat      the root flattened into one layer (a copy of the merged environment)
// and in a chroot of the same packages (unshare, as engine-real's), also in cgroups of its own
// (`chroot-cg`: a new cgroup in every v1 controller, as runc makes for each container). The workload: 2000 execs,
// 100 × gcc -c, directory listings, and the package's own configure step on its source.
// `--diagnose` prints what differs inside (environment, seccomp, cgroup, affinity, nice,
// ld.so.cache, the root's overlay lowerdirs, where /tmp lives).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadSigningKey, writeKeyPair } from '@melange2/apk';
import { BuildkitClient, llb, type State } from '@melange2/buildkit';
import { findTool } from '@melange2/daemons';
import { buildkitdArgs, launch } from '@melange2/daemons/internal';
import {
  environmentLayers,
  planBuild,
  resolveEnvironment,
  shellQuote,
  stepScript,
} from '@melange2/engine/internal';
import { runOnSources } from './on-sources.js';

runOnSources(import.meta.filename, '@melange2/engine');

const arch = 'x86_64';
const root = resolve(import.meta.dirname, '..');
const tools = process.env['MELANGE2_TOOLS_DIR'] ?? join(root, '.tools');
function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}
const pkg = arg('package', 'json-c');
const corpus = resolve(arg('corpus', join(root, 'testdata', 'real-os')));
const toolchain = resolve(arg('toolchain', join(tools, 'real-toolchain')));
const sources = resolve(arg('sources', join(tools, 'real-sources')));
const variants = arg('variants', 'default,insecure,tmpfs,flat,chroot').split(',');
const diagnose = process.argv.includes('--diagnose');
const rounds = Number(arg('rounds', '2'));
/** Without the configure phase. */
const quick = process.argv.includes('--quick');
const repo = join(toolchain, 'repo');
const keyPub = join(toolchain, 'keys');
const configFile = join(corpus, `${pkg}.yaml`);
if (!existsSync(join(repo, arch, 'APKINDEX.tar.gz')) || !existsSync(configFile) || !existsSync(sources)) {
  process.stdout.write('engine-causes: skipped: no toolchain, config or sources\n');
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'm2-bench-causes-'));
const { privatePath } = await writeKeyPair(work, 'bench', { bits: 2048 });
const { plan } = planBuild({
  configFile,
  arch,
  outDir: join(work, 'out'),
  signingKey: loadSigningKey(privatePath),
  repositoryAppend: [repo],
  keyringAppend: [keyPub],
  buildCacheDir: sources,
  sourceDateEpoch: 1700000000,
  client: undefined as never,
});
const env = await resolveEnvironment({
  arch,
  packages: plan.environment.packages,
  repositories: [repo, ...plan.environment.repositories],
  keyring: [keyPub, ...plan.environment.keyring],
  cacheDir: join(work, 'apk-cache'),
});
const layers = environmentLayers(env, { sourceDateEpoch: plan.sourceDateEpoch });

// The fetch step (source into /home/build) and the configure step, as the plan has them.
const fetch = plan.steps[0]!;
const configure = plan.steps.find((s) => /configure/.test(s.name)) ?? plan.steps[1]!;
const stepEnv = configure.env;

// Each phase's wall time and the CPU time (user + system, of the shell and its children, from
// /proc/self/stat in clock ticks) it took: on a loaded machine the wall time says little, while
// the CPU a process burns (system time above all: seccomp filters, overlay lookups, cgroup
// charging) is what the container adds to each of the thousands of processes a configure starts.
const WORKLOAD = [
  'set -e',
  'cpu() { set -- $(cat /proc/$$/stat); echo "$(date +%s%N) $((${14}+${16})) $((${15}+${17}))"; }',
  'lap() { set -- $1 $(cpu); out="$out $1 $(( ($2-w)/1000000 ))/$(( ($3-u)*10 ))/$(( ($4-s)*10 ))"; w=$2; u=$3; s=$4; }',
  "cd /tmp; printf 'int f(void){return 1;}\\n' > t.c",
  'set -- $(cpu); w=$1; u=$2; s=$3; out=""',
  'i=0; while [ $i -lt 2000 ]; do /usr/bin/true; i=$((i+1)); done; lap execs',
  'i=0; while [ $i -lt 100 ]; do gcc -c t.c -o t.o; i=$((i+1)); done; lap gcc',
  "i=0; while [ $i -lt 200 ]; do ls /usr/include >/dev/null; find /usr/lib -maxdepth 1 -name 'x*' >/dev/null; i=$((i+1)); done; lap ls",
  // One process making a million syscalls (read and write of one byte): a seccomp filter's cost per call.
  'dd if=/dev/zero of=/dev/null bs=1 count=500000 2>/dev/null; lap syscalls',
  ...(quick ? ['echo "RESULT$out"; exit 0'] : []),
  `/bin/sh -c ${shellQuote(stepScript(fetch))} >/dev/null 2>&1`,
  'set -- $(cpu); w=$1; u=$2; s=$3',
  `/bin/sh -c ${shellQuote(stepScript(configure))} >/dev/null 2>&1`,
  'lap configure',
  'echo "RESULT$out"',
].join('\n');

const DIAG = [
  'echo "== env"; env -u STEP | sort',
  'echo "== status"; grep -E "^(Seccomp|Seccomp_filters|NoNewPrivs|Cpus_allowed_list|CapEff|Speculation_Store_Bypass):" /proc/self/status',
  'echo "== nice $(cut -d" " -f19 /proc/self/stat)"',
  'echo "== cgroup"; cat /proc/self/cgroup',
  'echo "== ld.so.cache"; ls -l /etc/ld.so.cache 2>&1; ls /etc/ld.so.conf.d 2>&1 | head',
  'echo "== root mount"; grep " / / " /proc/self/mountinfo | sed "s/,/\\n  /g" | grep -c lowerdir= ; grep " / / " /proc/self/mountinfo | tr "," "\\n" | grep -o "lowerdir=.*" | tr ":" "\\n" | wc -l',
  'echo "== /tmp and /home/build"; grep -E " /(tmp|home/build) " /proc/self/mountinfo || echo "(part of the root)"',
  'echo "== ulimit"; ulimit -a 2>&1 | head -20',
].join('\n');

const bin = findTool('buildkitd');
const socket = join(work, 'bk.sock');
const daemon = await launch({
  label: 'buildkitd (causes)',
  command: bin,
  args: [
    ...buildkitdArgs({
      platform: 'linux/amd64',
      socket,
      root: join(work, 'bk-root'),
      otelSocket: join(work, 'otel.sock'),
    }),
    '--allow-insecure-entitlement',
    'security.insecure',
  ],
  logFile: join(work, 'bk.log'),
  env: { ...process.env, PATH: `${join(findTool('runc'), '..')}:${process.env['PATH'] ?? ''}` },
  ready: async () => existsSync(socket),
});
const client = await BuildkitClient.connect(`unix://${socket}`);

const srcMount = llb.bind('/var/cache/melange', llb.local('sources', { include: ['sha256:*'] }), {
  readonly: true,
});
function prepared(base: State): State {
  return base.file(
    llb
      .mkdir('/home/build', 0o755, { makeParents: true, chown: { user: 1000, group: 1000 } })
      .mkdir('/tmp', 0o1777, { makeParents: true }),
    { customName: 'prepare' },
  );
}
const flatRoot = llb
  .scratch()
  .file(llb.copy(layers.state, '/', '/', { copyDirContentsOnly: true }), { customName: 'flatten' });

async function inContainer(variant: string, script: string): Promise<string> {
  const base = prepared(variant === 'flat' ? flatRoot : layers.state);
  const exec = base.run({
    args: ['/bin/sh', '-c', `echo ${randomBytes(8).toString('hex')} >/dev/null\n${script}`],
    env: { HOME: '/home/build', ...stepEnv, SOURCE_DATE_EPOCH: String(plan.sourceDateEpoch) },
    cwd: '/home/build',
    user: '1000:1000',
    mounts: [srcMount, ...(variant === 'tmpfs' ? [llb.tmpfs('/tmp')] : [])],
    ...(variant === 'insecure' ? { security: 'insecure' as const } : {}),
    customName: `causes: ${variant}`,
  });
  const out: string[] = [];
  await client.solve(
    llb.marshal(exec.root(), { platform: { os: 'linux', architecture: 'amd64' } }),
    {
      localDirs: { ...layers.localDirs, sources },
      ...(variant === 'insecure' ? { entitlements: ['security.insecure'] } : {}),
    },
    {
      onEvent: (e) => {
        if (e.type === 'vertex.log' && e.vertex.name.startsWith('causes:')) out.push(e.line);
      },
    },
  );
  return out.join('\n');
}

let chrootDir: string | undefined;
/** v1 controllers runc puts each container in (its own cgroup in each). */
const CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio', 'devices', 'freezer', 'cpuset'];
function inChroot(script: string, ownCgroup = false): string {
  if (!chrootDir) {
    chrootDir = join(work, 'chroot');
    mkdirSync(chrootDir, { recursive: true });
    for (const p of env.packages) spawnSync('cp', ['-a', '--reflink=auto', `${p.tree}/.`, `${chrootDir}/`]);
    for (const d of ['dev', 'proc', 'tmp', 'var/cache/melange', 'home/build'])
      mkdirSync(join(chrootDir, d), { recursive: true });
    spawnSync('chmod', ['1777', join(chrootDir, 'tmp')]);
  }
  rmSync(join(chrootDir, 'home', 'build'), { recursive: true, force: true });
  mkdirSync(join(chrootDir, 'home', 'build'));
  spawnSync('chown', ['1000:1000', join(chrootDir, 'home', 'build')]);
  const r = spawnSync(
    'unshare',
    [
      '--mount',
      '--pid',
      '--fork',
      'sh',
      '-c',
      `${ownCgroup ? cgroupEnter : ''}mount --rbind /dev '${chrootDir}/dev' && mount -t proc proc '${chrootDir}/proc' && mount --bind -o ro '${sources}' '${chrootDir}/var/cache/melange' && exec chroot --userspec=1000:1000 '${chrootDir}' /bin/sh -c "cd /home/build; $STEP"`,
    ],
    { env: { ...stepEnv, STEP: script }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (ownCgroup) for (const c of CONTROLLERS) spawnSync('rmdir', [`/sys/fs/cgroup/${c}/${cgroupName}`]);
  return `${r.stdout}${r.stderr}`;
}
// As runc does on a cgroup v1 host: a fresh cgroup in every controller (cpuset's cpus and mems
// copied from its parent), the process moved in before it starts.
const cgroupName = `m2-causes-${process.pid}`;
const cgroupEnter = CONTROLLERS.map((c) => {
  const d = `/sys/fs/cgroup/${c}/${cgroupName}`;
  const cpuset =
    c === 'cpuset'
      ? `cat /sys/fs/cgroup/cpuset/cpuset.cpus > ${d}/cpuset.cpus && cat /sys/fs/cgroup/cpuset/cpuset.mems > ${d}/cpuset.mems && `
      : '';
  return `mkdir -p ${d} && ${cpuset}echo $$ > ${d}/tasks && `;
}).join('');

const run = (v: string, script: string) =>
  v === 'chroot' || v === 'chroot-cg'
    ? Promise.resolve(inChroot(script, v === 'chroot-cg'))
    : inContainer(v, script);
try {
  process.stdout.write(
    `engine-causes: ${pkg}'s environment (${env.packages.length} packages), steps "${fetch.name}", "${configure.name}"\n`,
  );
  // Warm everything a variant shares (layers, flattening) so the timings are the workload's.
  await inContainer('default', 'true');
  if (variants.includes('flat')) await inContainer('flat', 'true');
  if (diagnose) for (const v of variants) process.stdout.write(`--- ${v}\n${await run(v, DIAG)}\n`);
  process.stdout.write('each phase: wall/user/system ms\n');
  // Interleaved and rotated: each variant runs at another position in each round.
  for (let round = 1; round <= rounds; round++)
    for (const v of [...variants.slice(round - 1), ...variants.slice(0, round - 1)]) {
      const said = await run(v, WORKLOAD);
      const m = /RESULT (.*)/.exec(said);
      process.stdout.write(`#${round} ${v.padEnd(9)} ${m ? m[1] : `no result:\n${said.slice(-1500)}`}\n`);
    }
} finally {
  client.close();
  spawnSync('kill', [String(daemon.pid)]);
  await new Promise((r) => daemon.child.once('exit', r));
  spawnSync('rm', ['-rf', work]);
}
