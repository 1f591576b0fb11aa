/**
 * `melange2-orch image build`: the coordinator and agent images, per arch, solved by the
 * project's BuildKit client on that arch's buildkitd (file operations only: nothing runs under
 * qemu) and exported by BuildKit's `oci` exporter with `rewrite-timestamp` at SOURCE_DATE_EPOCH,
 * then given their config (see oci-archive.ts). Two layers: the arch's runtime, and `/app`,
 * which is byte-identical for both arches and both images (stored once by a registry or podman).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildkitClient, llb, marshal, type TlsOptions } from '@melange2/buildkit';
import type { Arch } from '../flags/arch.js';
import { stageApp } from './app.js';
import { stageDaemons } from './daemons.js';
import { readExportedImage, writeImageArchive } from './oci-archive.js';
import { type ArchRuntime, RUNTIMES, setTimes, stageRuntime } from './runtime.js';

/** coordinator and agent are the product; daemons is for tests (buildkitd and nats-server, see daemons.ts). */
export const IMAGE_KINDS = ['coordinator', 'agent', 'daemons'] as const;
export type ImageKind = (typeof IMAGE_KINDS)[number];
type SecondLayer = 'app' | 'daemons';

const NODE = '/usr/local/bin/node';
const CLI = '/app/apps/cli/bin/melange2-orch.js';
const NONROOT = 65532;

/** What differs between the images: the command they run, and as whom. */
const ENTRYPOINT: Readonly<Record<ImageKind, { entrypoint: string[]; cmd: string[] }>> = {
  coordinator: { entrypoint: [NODE, CLI], cmd: ['--help'] },
  agent: { entrypoint: [NODE, CLI, 'agent'], cmd: [] },
  // The test harness names the daemon to run; buildkitd needs root (and a privileged container).
  daemons: { entrypoint: [], cmd: ['/usr/local/bin/nats-server', '--help'] },
};

const HOME = '/home/nonroot';
const IMAGE_ENV = ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_ENV=production', `HOME=${HOME}`] as const;

const imageName = (kind: ImageKind) => `melange2-orch-${kind}`;

export interface ImageBuildOptions extends StageOptions {
  readonly arches: readonly Arch[];
  readonly kinds: readonly ImageKind[];
  readonly outDir: string;
  readonly version: string;
  readonly sourceDateEpoch: number;
  readonly buildkitAddr: (arch: Arch) => string;
  readonly tls?: TlsOptions;
  readonly log?: (line: string) => void;
}

export interface BuiltImage {
  readonly kind: ImageKind;
  readonly arch: Arch;
  readonly ref: string;
  readonly file: string;
  readonly digest: string;
  readonly size: number;
  readonly layers: readonly { readonly digest: string; readonly size: number }[];
  readonly seconds: number;
}

/** The image's filesystem as LLB: the runtime tree, then the application under /app (or the daemons). */
function imageDefinition(rt: ArchRuntime, second: SecondLayer, epoch: number) {
  // Every copied file and made directory gets SOURCE_DATE_EPOCH as its time, in the op itself:
  // BuildKit's cache of a copy does not key on the source's mtimes, so times left to the
  // source would be those of whichever build filled the daemon's cache first.
  const timestamp = new Date(epoch * 1000);
  const platform = { os: 'linux', architecture: rt.oci, ...(rt.variant ? { variant: rt.variant } : {}) };
  const runtime = llb.local('runtime');
  const layer = llb.local(second);
  return marshal(
    llb
      .scratch()
      .platform(platform)
      .file(
        llb
          .copy(runtime, '/', '/', { copyDirContentsOnly: true, timestamp })
          .mkdir(HOME, 0o755, { chown: { user: NONROOT, group: NONROOT }, timestamp }),
      )
      .file(
        llb.copy(layer, '/', second === 'app' ? '/app' : '/', {
          copyDirContentsOnly: true,
          createDestPath: true,
          timestamp,
        }),
      ),
  );
}

function imageConfig(
  kind: ImageKind,
  rt: ArchRuntime,
  base: Readonly<Record<string, unknown>>,
  o: ImageBuildOptions,
): Record<string, unknown> {
  return {
    architecture: rt.oci,
    os: 'linux',
    ...(rt.variant ? { variant: rt.variant } : {}),
    created: new Date(o.sourceDateEpoch * 1000).toISOString(),
    config: {
      User: kind === 'daemons' ? '0:0' : `${NONROOT}:${NONROOT}`,
      Env: [...IMAGE_ENV],
      ...(ENTRYPOINT[kind].entrypoint.length ? { Entrypoint: ENTRYPOINT[kind].entrypoint } : {}),
      ...(ENTRYPOINT[kind].cmd.length ? { Cmd: ENTRYPOINT[kind].cmd } : {}),
      WorkingDir: HOME,
      Labels: {
        'org.opencontainers.image.title': imageName(kind),
        'org.opencontainers.image.version': o.version,
        'org.opencontainers.image.description': `melange2-orch ${kind} (Node ${o.nodeVersion})`,
        'org.opencontainers.image.licenses': 'Apache-2.0',
      },
    },
    rootfs: base['rootfs'],
    history: base['history'],
  };
}

/** Where `stageRuntime` finds the list of Debian files, and where it caches its inputs. */
export interface StageOptions {
  readonly root: string;
  readonly nodeVersion: string;
  readonly cacheDir: string;
}

/** The arch's runtime tree (the image's `/`), see runtime.ts. */
export async function stageArchRuntime(o: StageOptions, arch: Arch, dest: string): Promise<void> {
  await stageRuntime(RUNTIMES[arch], {
    listFile: join(o.root, 'deploy/images/runtime-files.txt'),
    cacheDir: o.cacheDir,
    nodeVersion: o.nodeVersion,
    dest,
  });
}

/** The images that share a second layer are solved together: one solve per arch and layer. */
const LAYER_OF: Readonly<Record<ImageKind, SecondLayer>> = {
  coordinator: 'app',
  agent: 'app',
  daemons: 'daemons',
};

async function solveLayers(
  o: ImageBuildOptions,
  rt: ArchRuntime,
  dirs: { runtime: string; second: string },
  second: SecondLayer,
  exported: string,
): Promise<void> {
  const client = await BuildkitClient.connect(o.buildkitAddr(rt.arch), o.tls ? { tls: o.tls } : {});
  try {
    await client.solve(imageDefinition(rt, second, o.sourceDateEpoch), {
      localDirs: { runtime: dirs.runtime, [second]: dirs.second },
      exports: [
        {
          type: 'oci',
          dest: exported,
          attrs: {
            'rewrite-timestamp': 'true',
            'source-date-epoch': String(o.sourceDateEpoch),
            'oci-mediatypes': 'true',
          },
        },
      ],
    });
  } finally {
    client.close();
  }
}

/** Builds every requested image; the application tree is staged once, each arch solved once per layer set. */
export async function buildImages(o: ImageBuildOptions): Promise<BuiltImage[]> {
  const work = await mkdtemp(join(tmpdir(), 'm2-image-'));
  const log = o.log ?? (() => undefined);
  const out: BuiltImage[] = [];
  const seconds = [...new Set(o.kinds.map((k) => LAYER_OF[k]))];
  try {
    if (seconds.includes('app')) {
      log('staging /app (built workspace, npm ci --omit=dev)');
      await stageApp(o.root, join(work, 'app'));
      await setTimes(join(work, 'app'), o.sourceDateEpoch);
    }
    for (const arch of o.arches) {
      const rt = RUNTIMES[arch];
      const runtimeDir = join(work, `runtime-${arch}`);
      log(`${arch}: staging the runtime (node ${o.nodeVersion}, Debian libc and busybox for ${rt.oci})`);
      await stageArchRuntime(o, arch, runtimeDir);
      await setTimes(runtimeDir, o.sourceDateEpoch);
      for (const second of seconds) {
        const started = Date.now();
        const secondDir = join(work, second === 'app' ? 'app' : `daemons-${arch}`);
        if (second === 'daemons') {
          await stageDaemons(arch, secondDir);
          await setTimes(secondDir, o.sourceDateEpoch);
        }
        const exported = join(work, `buildkit-${arch}-${second}.tar`);
        log(`${arch}: solving on ${o.buildkitAddr(arch)}`);
        await solveLayers(o, rt, { runtime: runtimeDir, second: secondDir }, second, exported);
        const image = await readExportedImage(exported);
        for (const kind of o.kinds.filter((k) => LAYER_OF[k] === second)) {
          const ref = `${imageName(kind)}:${o.version}`;
          const file = join(o.outDir, `${imageName(kind)}-${o.version}-${rt.oci}.oci.tar`);
          const w = await writeImageArchive(
            image,
            {
              layers: image.layers,
              config: imageConfig(kind, rt, image.config, o),
              platform: { architecture: rt.oci, os: 'linux', ...(rt.variant ? { variant: rt.variant } : {}) },
              ref,
              mtime: o.sourceDateEpoch,
            },
            file,
          );
          out.push({
            kind,
            arch,
            ref,
            file,
            digest: w.digest,
            size: w.size,
            layers: image.layers.map((l) => ({ digest: l.digest, size: l.size })),
            seconds: (Date.now() - started) / 1000,
          });
        }
        await rm(exported, { force: true });
      }
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return out;
}
