/**
 * The harness's container path, through podman's Docker-compatible socket: with DOCKER_HOST
 * answering and the daemons image loaded, `startNats` and `startBuildkitd` run nats-server and
 * buildkitd in containers (testcontainers), and the rest works as with local processes: JetStream
 * takes and deduplicates work, and `melange2-orch build` builds a package of testdata/os on the
 * containerized buildkitd (end to end). MELANGE2_IMAGE_DIR names archives `image build` made
 * already (it must hold the daemons image); otherwise this test builds it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startBuildkitd, startNats } from '../harness/src/index.ts';
import { indexNames, OS_REPO, osBootstrap, ROOT } from '../harness/src/os-bootstrap.ts';
import { podmanAvailable, startPodman, type TestPodman } from '../harness/src/podman.ts';

const run = promisify(execFile);
const d = inject('daemons');
const CLI = join(ROOT, 'apps/cli/bin/melange2-orch.js');
const ENGINE_ENV = ['DOCKER_HOST', 'TESTCONTAINERS_RYUK_DISABLED', 'TESTCONTAINERS_HOST_OVERRIDE'] as const;

/** The daemons image archive: given, or built now on the run's x86_64 buildkitd. */
async function daemonsArchive(): Promise<string> {
  let dir = process.env['MELANGE2_IMAGE_DIR'];
  if (!dir) {
    dir = join(tmpdir(), 'images');
    await run(
      process.execPath,
      [
        CLI,
        'image',
        'build',
        '--arch',
        'x86_64',
        '--image',
        'daemons',
        '-o',
        dir,
        '--buildkit-addr',
        d.buildkit.x86_64,
      ],
      { maxBuffer: 16 * 1024 * 1024 },
    );
  }
  const f = readdirSync(dir).find(
    (n) => n.startsWith('melange2-orch-daemons-') && n.endsWith('-amd64.oci.tar'),
  );
  if (!f) throw new Error(`no daemons image archive in ${dir}`);
  return join(dir, f);
}

describe.skipIf(!podmanAvailable() || process.arch !== 'x64')(
  'the harness runs daemons in containers through podman',
  () => {
    let p: TestPodman | undefined;
    const saved = new Map<string, string | undefined>();

    beforeAll(async () => {
      const archive = await daemonsArchive();
      p = await startPodman();
      await p.podman(['load', '-q', '-i', archive]);
      const host = await p.service();
      for (const k of ENGINE_ENV) saved.set(k, process.env[k]);
      process.env['DOCKER_HOST'] = host;
      process.env['TESTCONTAINERS_RYUK_DISABLED'] = 'true';
      // testcontainers would otherwise take the podman bridge gateway for the host (/.dockerenv).
      process.env['TESTCONTAINERS_HOST_OVERRIDE'] = '127.0.0.1';
    }, 1_800_000);

    afterAll(async () => {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      await p?.stop();
    });

    const running = async () => (await p!.podman(['ps', '--no-trunc', '--format', '{{.Command}}'])).stdout;

    it('startNats: nats-server in a container; JetStream deduplicates a republished message', async () => {
      const nats = await startNats();
      try {
        expect(nats.runsIn).toBe('container');
        expect(await running()).toContain('-js');
        const nc = await connect({ servers: nats.url });
        try {
          const jsm = await jetstreamManager(nc);
          await jsm.streams.add({ name: 'WORK', subjects: ['work.>'] });
          const js = jetstream(nc);
          expect((await js.publish('work.x86_64', 'a', { msgID: 'a-1' })).duplicate).toBe(false);
          expect((await js.publish('work.x86_64', 'a', { msgID: 'a-1' })).duplicate).toBe(true);
        } finally {
          await nc.close();
        }
      } finally {
        await nats.stop();
      }
      expect(await running()).not.toContain('-js');
    });

    it('startBuildkitd: buildkitd in a container; `melange2-orch build` builds base-files on it', async () => {
      const bk = await startBuildkitd({ platform: 'linux/amd64' });
      try {
        expect(bk.runsIn).toBe('container');
        const b = await osBootstrap(['x86_64']);
        const out = join(b.dir, 'packages');
        const r = await run(
          process.execPath,
          [
            CLI,
            'build',
            join(OS_REPO, 'base-files.yaml'),
            '--arch',
            'x86_64',
            '--buildkit-addr',
            bk.address,
            '--signing-key',
            b.keyPath,
            '--repository-append',
            b.repo,
            '--apk-cache-dir',
            join(b.dir, 'apk-cache'),
            '--out-dir',
            out,
          ],
          { maxBuffer: 16 * 1024 * 1024 },
        );
        expect(r.stdout).toMatch(/x86_64: built base-files-1\.0\.0-r0/);
        expect(existsSync(join(out, 'x86_64', 'base-files-1.0.0-r0.apk'))).toBe(true);
        expect(indexNames(join(out, 'x86_64', 'APKINDEX.tar.gz'), b.key)).toEqual(['base-files']);
      } finally {
        await bk.stop();
      }
    }, 600_000);
  },
);
