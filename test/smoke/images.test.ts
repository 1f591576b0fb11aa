/**
 * The images `melange2-orch image build` makes: reproducible, equivalent to
 * deploy/images/Dockerfile, and working. The distributed system in containers from them: nats-server, the coordinator and one
 * agent per arch, each in its own podman container (the aarch64 agent runs the arm64 image under
 * qemu), host network only, build testdata/os for both arches; the APKs and the signed indexes
 * verify. NATS is locked down as `nats-config` lays a farm out (TLS, one nkey user per role): the
 * coordinator and each agent hold only their own seed, and a client without one is refused. The agents talk to the buildkitd of the test run through its socket, mounted into their
 * container: in Kubernetes buildkitd is a sidecar from the upstream image (deploy/k8s), which
 * these machines cannot pull. MELANGE2_IMAGE_DIR names archives `image build` made already;
 * otherwise this test builds them.
 */
import { execFile } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Keyring, publicPemOf, verifyApk } from '@melange2/apk';
import { findTool, freePort, writeNatsSecurity } from '@melange2/daemons';
import { agentRoleName, farmRoles } from '@melange2/protocol';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { natsArgs, natsConnect } from '../harness/src/nats.ts';
import { podmanAvailable, startPodman, type TestPodman } from '../harness/src/podman.ts';
import { apkFile, indexNames, OS_BUILT, OS_REPO, osBootstrap, ROOT } from '../harness/src/os-bootstrap.ts';

const run = promisify(execFile);
const d = inject('daemons');
const NONROOT = 65532;
const ARCHES = [
  { arch: 'x86_64', oci: 'amd64' },
  { arch: 'aarch64', oci: 'arm64' },
] as const;

const CLI = join(ROOT, 'apps/cli/bin/melange2-orch.js');

/** `image build` into `dir`: stdout, one line per image (`ref arch digest size file`). */
async function buildImages(dir: string, ...flags: string[]): Promise<string> {
  const addrs = [
    '--buildkit-addr',
    `x86_64=${d.buildkit.x86_64}`,
    '--buildkit-addr',
    `aarch64=${d.buildkit.aarch64}`,
  ];
  const r = await run(process.execPath, [CLI, 'image', 'build', '-o', dir, ...addrs, ...flags], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return r.stdout;
}

/** The OCI archives of both images for both arches: given (from this checkout), or built now. */
async function imageArchives(): Promise<string> {
  const given = process.env['MELANGE2_IMAGE_DIR'];
  if (given) return given;
  const dir = join(tmpdir(), 'images');
  await buildImages(dir);
  return dir;
}

function archive(dir: string, kind: string, oci: string): string {
  const f = readdirSync(dir).find(
    (n) => n.startsWith(`melange2-orch-${kind}-`) && n.endsWith(`-${oci}.oci.tar`),
  );
  if (!f) throw new Error(`no ${kind} ${oci} archive in ${dir}`);
  return join(dir, f);
}

/** The manifest digest an archive's index names. */
async function digestOf(file: string): Promise<string> {
  const { stdout } = await run('tar', ['-xOf', file, 'index.json']);
  return (JSON.parse(stdout) as { manifests: { digest: string }[] }).manifests[0]!.digest;
}

/** The layer digests an archive's manifest lists. */
async function layersOf(file: string): Promise<string[]> {
  const digest = await digestOf(file);
  const { stdout } = await run('tar', ['-xOf', file, `blobs/${digest.replace(':', '/')}`]);
  return (JSON.parse(stdout) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
}

/** Every path in an archive's layers (`dir/` for directories), with owner and mode; and its config. */
async function imageContents(
  file: string,
): Promise<{ paths: Map<string, string>; config: Record<string, unknown> }> {
  const dir = mkdtempSync(join(tmpdir(), 'oci-'));
  await run('tar', ['-xf', file, '-C', dir]);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  const blob = (digest: string) => join(dir, 'blobs', digest.replace(':', '/'));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as {
    config: { digest: string };
    layers: { digest: string }[];
  };
  const paths = new Map<string, string>();
  for (const l of manifest.layers) {
    const { stdout } = await run('tar', ['--numeric-owner', '-tvzf', blob(l.digest)], {
      maxBuffer: 64 * 1024 * 1024,
    });
    for (const line of stdout.split('\n').filter(Boolean)) {
      const [mode, owner, , , , ...rest] = line.split(/\s+/);
      const name = rest.join(' ').replace(/ -> .*$/, '');
      paths.set(`/${name}`, `${owner} ${mode}`);
    }
  }
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as Record<string, unknown>;
  rmSync(dir, { recursive: true, force: true });
  return { paths, config };
}

/** The paths of a staged tree as they land under `dest` in the image. */
function staged(tree: string, dest: string, out: Set<string>): void {
  for (const e of readdirSync(tree, { withFileTypes: true })) {
    const p = `${dest}${e.name}`;
    out.add(e.isDirectory() ? `${p}/` : p);
    if (e.isDirectory()) staged(join(tree, e.name), `${p}/`, out);
  }
}

/** deploy/images/Dockerfile's instructions of one stage, as [keyword, rest] pairs. */
function dockerStage(text: string, name: string): [string, string][] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'));
  const out: [string, string][] = [];
  let inStage = false;
  for (const l of lines) {
    const [kw, ...rest] = l.trim().split(/\s+/);
    if (kw === 'FROM') inStage = / AS (\S+)$/i.exec(l)?.[1] === name;
    else if (inStage) out.push([kw!, rest.join(' ')]);
  }
  return out;
}

/** Loads an archive and returns the image ID (names are per arch the same; IDs are not). */
async function load(p: TestPodman, file: string): Promise<string> {
  const out = (await p.podman(['load', '-q', '-i', file])).stdout;
  const name = /Loaded image(?:\(s\))?: (\S+)/.exec(out)?.[1];
  if (!name) throw new Error(`podman load ${file}: ${out}`);
  return (await p.podman(['image', 'inspect', '--format', '{{.Id}}', name])).stdout.trim();
}

/** Mounts of a unix:// buildkitd address's directory (a tcp:// one needs none: host network). */
const socketMount = (addr: string) =>
  addr.startsWith('unix://') ? ['-v', `${dirname(addr.slice(7))}:${dirname(addr.slice(7))}`] : [];

/** Read-only mounts of files at the same paths in the container. */
const readOnly = (...files: string[]) => files.flatMap((f) => ['-v', `${f}:${f}:ro`]);

describe('the coordinator and agent images', () => {
  let images = '';
  let p: TestPodman | undefined;
  let natsDir: string | undefined;
  beforeAll(async () => {
    images = await imageArchives();
  }, 1_800_000);
  afterAll(async () => {
    await p?.stop();
    if (natsDir) rmSync(natsDir, { recursive: true, force: true });
  });
  const file = (kind: string, oci: string) => archive(images, kind, oci);

  it('are reproducible: built again, the x86_64 coordinator image has the same digest; /app is the same layer on both daemons', async () => {
    const again = join(tmpdir(), 'again');
    const out = await buildImages(again, '--arch', 'x86_64', '--image', 'coordinator');
    const digest = await digestOf(file('coordinator', 'amd64'));
    expect(out).toContain(digest);
    expect(await digestOf(archive(again, 'coordinator', 'amd64'))).toBe(digest);
    // The two arches are solved on two daemons with caches of their own.
    const appLayer = async (oci: string) => (await layersOf(file('agent', oci))).at(-1);
    expect(await appLayer('arm64')).toBe(await appLayer('amd64'));
  }, 1_800_000);

  it('hold what deploy/images/Dockerfile copies from `image stage`, with its config', async () => {
    const dockerfile = readFileSync(join(ROOT, 'deploy/images/Dockerfile'), 'utf8');
    const base = dockerStage(dockerfile, 'base');
    const copies = base
      .filter(([k]) => k === 'COPY')
      .map(([, rest]) => {
        const words = rest.split(/\s+/);
        const [src, dest] = words.filter((w) => !w.startsWith('--'));
        return { src: src!, dest: dest!, chown: words.find((w) => w.startsWith('--chown='))?.slice(8) };
      });
    expect(copies.map((c) => c.src)).toEqual(['/rootfs/runtime/', '/rootfs/nonroot/', '/rootfs/app/']);
    const stageDir = join(tmpdir(), 'stage');
    await run(process.execPath, [CLI, 'image', 'stage', '--arch', 'x86_64', '-o', stageDir], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const expected = new Set<string>();
    for (const c of copies) {
      if (c.dest !== '/') expected.add(c.dest);
      staged(join(stageDir, c.src.replace('/rootfs/', '')), c.dest, expected);
    }
    const { paths, config } = await imageContents(file('coordinator', 'amd64'));
    expect([...paths.keys()].sort()).toEqual([...expected].sort());
    const owner = copies.find((c) => c.dest === '/home/nonroot/')?.chown?.replace(':', '/');
    expect(paths.get('/home/nonroot/')).toMatch(new RegExp(`^${owner} d`));
    expect(paths.get('/tmp/')).toBe('0/0 drwxrwxrwt');

    const value = (kw: string, stage = base) => stage.find(([k]) => k === kw)?.[1];
    const c = config['config'] as Record<string, unknown>;
    expect(c['User']).toBe(value('USER'));
    expect(c['WorkingDir']).toBe(value('WORKDIR'));
    expect((c['Env'] as string[]).join(' ')).toBe(value('ENV'));
    for (const kind of ['coordinator', 'agent']) {
      const stage = dockerStage(dockerfile, kind);
      const kc = (await imageContents(file(kind, 'amd64'))).config['config'] as Record<string, unknown>;
      const json = (kw: string) => {
        const v = value(kw, stage);
        return v === undefined ? undefined : (JSON.parse(v) as unknown);
      };
      expect(kc['Entrypoint']).toEqual(json('ENTRYPOINT'));
      expect(kc['Cmd']).toEqual(json('CMD'));
    }
  }, 600_000);

  it.skipIf(!podmanAvailable())(
    'run a distributed build in podman: nats, coordinator and an agent per arch build testdata/os for both arches; APKs and indexes verify',
    async () => {
      p = await startPodman();
      const coordinator = await load(p, file('coordinator', 'amd64'));
      const agents = new Map<string, string>();
      for (const { arch, oci } of ARCHES) agents.set(arch, await load(p, file('agent', oci)));

      const b = await osBootstrap(['x86_64', 'aarch64']);
      const out = join(b.dir, 'out');
      mkdirSync(out);
      // The containers run as the images' non-root user: it owns what they read and write.
      await run('chown', ['-R', `${NONROOT}:${NONROOT}`, b.dir]);
      chownSync(out, NONROOT, NONROOT);
      const common = ['--network', 'host', '-v', `${OS_REPO}:${OS_REPO}:ro`, '-v', `${b.dir}:${b.dir}`];
      const ns = `pod${process.pid}x${Date.now().toString(36)}`;

      // NATS locked down with the files `nats-config` writes (its default hosts, 127.0.0.1 and
      // localhost, as `daemons up`: nats.js verified the name localhost here), one nkey user per
      // role of this namespace. They are 0600; the containers run as the images' user (rootful
      // podman, no user namespace: the host uid is theirs), so that user owns them rather than
      // their mode widening. Outside b.dir: each container mounts only the files its role needs.
      natsDir = mkdtempSync(join(tmpdir(), 'm2-nats-auth-'));
      const sec = await writeNatsSecurity(natsDir, {
        roles: farmRoles(
          [ns],
          ARCHES.map((a) => a.arch),
        ),
        hosts: ['127.0.0.1', 'localhost'],
      });
      const port = await freePort();
      const url = `tls://127.0.0.1:${port}`;
      // The server config as libs/daemons writes it (store in the container's /tmp).
      const natsConf = join(natsDir, 'nats.conf');
      const q = (s: string) => JSON.stringify(s);
      writeFileSync(
        natsConf,
        [
          `listen: ${q(`127.0.0.1:${port}`)}`,
          `jetstream { store_dir: ${q('/tmp/jetstream')} }`,
          `tls { cert_file: ${q(sec.tls.cert)}, key_file: ${q(sec.tls.key)}, ca_file: ${q(sec.tls.ca)}, timeout: 5 }`,
          `include ${q('auth.conf')}`,
          '',
        ].join('\n'),
        { mode: 0o600 },
      );
      await run('chown', ['-R', `${NONROOT}:${NONROOT}`, natsDir]);
      const access = (role: string) => natsArgs({ url, tlsCa: sec.tls.ca, nkey: sec.seeds[role]! });
      const roleMounts = (role: string) => readOnly(sec.tls.ca, sec.seeds[role]!);

      // The project's nats-server binary in a container of the coordinator image (its C runtime).
      const natsBin = findTool('nats-server');
      await p.podman([
        'run',
        '-d',
        '--name',
        `${ns}-nats`,
        '--network',
        'host',
        '-v',
        `${natsBin}:/usr/local/bin/nats-server:ro`,
        '-v',
        `${natsDir}:${natsDir}:ro`,
        '--entrypoint',
        '/usr/local/bin/nats-server',
        coordinator,
        '-c',
        natsConf,
      ]);
      for (let i = 0; i < 600; i++) {
        const logs = await p.tryPodman(['logs', `${ns}-nats`]);
        if (/Server is ready/.test(logs.stderr + logs.stdout)) break;
        if (i === 599) throw new Error(`nats-server did not start: ${logs.stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // Without credentials the containerized server refuses (the CA alone gets TLS, not a user).
      await expect(natsConnect({ url, tlsCa: sec.tls.ca }, { reconnect: false })).rejects.toThrow(
        /Authorization Violation/,
      );

      for (const { arch } of ARCHES) {
        const addr = d.buildkit[arch];
        await p.podman([
          'run',
          '-d',
          '--name',
          `${ns}-agent-${arch}`,
          ...common,
          ...socketMount(addr),
          ...roleMounts(agentRoleName(ns, arch)),
          // The run's buildkitd socket is root's (0660): the agent joins its group, nothing more.
          '--group-add',
          '0',
          agents.get(arch)!,
          ...access(agentRoleName(ns, arch)),
          '--namespace',
          ns,
          '--arch',
          arch,
          '--id',
          `container-${arch}`,
          '--buildkit-addr',
          addr,
          '--repo',
          OS_REPO,
        ]);
      }

      const r = await p.tryPodman([
        'run',
        '--name',
        `${ns}-coordinator`,
        ...common,
        ...roleMounts('coordinator'),
        coordinator,
        'coordinator',
        OS_REPO,
        ...access('coordinator'),
        '--namespace',
        ns,
        '--arch',
        'x86_64,aarch64',
        '--signing-key',
        b.keyPath,
        '--repository-append',
        b.repo,
        '--no-parse-cache',
        '--out-dir',
        out,
      ]);
      const logs = async () => {
        const parts = [`--- coordinator (exit ${r.code})\n${r.stderr}${r.stdout}`];
        for (const { arch } of ARCHES)
          parts.push(`--- agent ${arch}\n${(await p!.tryPodman(['logs', `${ns}-agent-${arch}`])).stderr}`);
        return parts.join('\n');
      };
      // testdata/os fails one package on purpose (and skips its dependents): exit 1 by design.
      expect(r.stdout, await logs()).toMatch(/20 built, 2 failed, 4 skipped, 0 up to date/);
      expect(r.code).toBe(1);

      const keyring = new Keyring().add(b.key.publicName, publicPemOf(b.key));
      for (const { arch } of ARCHES) {
        expect(indexNames(join(out, arch, 'APKINDEX.tar.gz'), b.key)).toEqual(OS_BUILT);
        const apks = readdirSync(join(out, arch)).filter((f) => f.endsWith('.apk'));
        expect(apks.map((f) => f.replace(/-\d.*$/, '')).sort()).toEqual(OS_BUILT);
        for (const f of apks) await verifyApk(join(out, arch, f), { keyring });
        expect(await apkFile(join(out, arch, 'greeter-1.0.0-r0.apk'), 'usr/share/greeter/built-with')).toBe(
          `marker libgreet-1.0.0-r0 arch ${arch}\n`,
        );
      }
      // Each arch was built by its container's agent.
      for (const { arch } of ARCHES)
        expect((await p.podman(['logs', `${ns}-agent-${arch}`])).stderr + r.stderr + r.stdout).toContain(
          `container-${arch}`,
        );
      expect(existsSync(join(out, 'x86_64'))).toBe(true);
    },
    1_800_000,
  );
});
