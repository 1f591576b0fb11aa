// The coordinator's publish step in a build's log, where the publish is refused: an agent (real
// NATS, real log store, real coordinator) whose reports name other bytes than it staged.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNatsAgent } from '@melange2/agent';
import { generateKeyPair, packageInfo, packApk, signingKeyFromPem } from '@melange2/apk';
import { LocalRepositoryStore, logMetricsRoute, ObjectRunStore, runDistributed } from '@melange2/coordinator';
import { serveRepository } from '@melange2/coordinator/internal';
import { fileDigest, natsNames, ObjectLogStore, ObjectStaging, stagingKey } from '@melange2/protocol';
import { agentAccess, natsArgs, natsConnect, natsNamespaces } from '@melange2/test/harness';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { runCli } from './cli-helpers-apk.js';

const d = inject('daemons');

const CONFIG = `package:
  name: lopsided
  version: 1.0.0
  epoch: 0
  description: its agent reports other bytes than it staged
  copyright:
    - license: Apache-2.0

pipeline:
  - runs: echo never run
`;

describe('a refused publish in the build log (distributed)', () => {
  const nats = natsNamespaces('pl');
  const dirs: string[] = [];
  const ns = nats.fresh();
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('every attempt is refused (staged-mismatch): the log of the last one ends with the refusal and its code', async () => {
    const repo = mkdtempSync(join(tmpdir(), 'm2-publog-'));
    const work = mkdtempSync(join(tmpdir(), 'm2-publog-work-'));
    dirs.push(repo, work);
    writeFileSync(join(repo, 'lopsided.yaml'), CONFIG);
    const anc = await natsConnect(await agentAccess(d.nats, ns, 'x86_64'));
    const staging = ObjectStaging.attach(anc, natsNames(ns).staging);
    const key = signingKeyFromPem((await generateKeyPair(2048)).privatePem, 'lopsided.rsa.pub');
    const agent = await startNatsAgent({
      nc: anc,
      ns,
      arch: 'x86_64',
      slots: 1,
      id: 'lopsided-agent',
      repoRoot: repo,
      heartbeatMs: 300,
      // A package of the job's name and version, staged; the report says it is one byte longer.
      execute: async (job, ctx) => {
        const tree = join(work, `tree-${job.attempt}`);
        const file = join(work, `${job.attempt}.apk`);
        mkdirSync(join(tree, 'etc'), { recursive: true });
        writeFileSync(join(tree, 'etc', 'lopsided'), 'lopsided\n');
        await packApk({
          dir: tree,
          info: packageInfo({
            name: job.name,
            version: job.version,
            arch: job.arch,
            description: 'lopsided',
            origin: job.name,
          }),
          signingKey: key,
          output: file,
        });
        const filename = `${job.name}-${job.version}.apk`;
        const k = stagingKey(job, filename);
        await staging.put(k, file);
        const digest = await fileDigest(file);
        ctx.log(`staged ${filename} (${digest.size} bytes), reported as ${digest.size + 1}`);
        return {
          kind: 'succeeded',
          apks: [{ filename, key: k, sha256: digest.sha256, size: digest.size + 1 }],
          steps: { total: 0, cached: 0 },
        };
      },
    });
    try {
      // The repository key (the coordinator signs with it): no bootstrap needed, nothing is built.
      const repoKey = signingKeyFromPem((await generateKeyPair(2048)).privatePem, 'repo.rsa.pub');
      const r = await runDistributed({
        nc: nats.nc,
        ns,
        repo,
        arches: ['x86_64'],
        signingKey: repoKey,
        log: () => {},
      });
      expect(r.rows).toMatchObject([{ build: { name: 'lopsided' }, state: 'refused' }]);
      const logs = await runCli(['logs', 'lopsided', ...natsArgs(d.nats), '--namespace', ns]);
      expect(logs.code, logs.err).toBe(0);
      // The agent's log of the last attempt, then the coordinator's section for that attempt.
      expect(logs.out).toMatch(/\(run .*, attempt 3\) on agent lopsided-agent/);
      expect(logs.out).toMatch(/staged lopsided-1\.0\.0-r0\.apk \(\d+ bytes\), reported as \d+/);
      expect(logs.out).toMatch(
        /== coordinator: publish \(attempt 3\)\n\S+ reported lopsided-1\.0\.0-r0\.apk: sha256 [0-9a-f]{64}, \d+ bytes\n\S+ publish REFUSED \(staged-mismatch\) after [\d.]+s: .*differ from the report/,
      );
      expect(logs.out).not.toMatch(/signed with|index generation/);
      // The HTTP route serves the same text.
      const server = await serveRepository(
        new LocalRepositoryStore(mkdtempSync(join(tmpdir(), 'm2-empty-'))),
        {
          routes: logMetricsRoute({
            logs: await ObjectLogStore.open(nats.nc, ns),
            timelines: async (id) => (await ObjectRunStore.open(nats.nc, natsNames(ns).runs)).get(id),
          }),
        },
      );
      try {
        const res = await fetch(`${server.url}/runs/${r.runId}/builds/x86_64/lopsided/log`);
        expect(res.status).toBe(200);
        expect(await res.text()).toBe(logs.out);
      } finally {
        await server.close();
      }
    } finally {
      await agent.close(true);
      await anc.close();
    }
  });
});
