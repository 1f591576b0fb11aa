import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunBuild, RunEvent } from '@melange2/coordinator';
import {
  FileRunStore,
  observePublish,
  PublishSections,
  publishSection,
  type RunTimeline,
  type TimelineBuild,
} from '@melange2/coordinator/internal';
import { ForgedReportError } from '@melange2/protocol';
import { afterAll, describe, expect, it } from 'vitest';

const build = { id: 'x@x86_64', name: 'x', arch: 'x86_64', version: '1.0.0-r0' } as unknown as RunBuild;
const apk = { filename: 'x-1.0.0-r0.apk', key: 'k', sha256: 'a'.repeat(64), size: 42 };
const report = {
  attempt: 2,
  outcome: { kind: 'succeeded' as const, apks: [apk], steps: { total: 1, cached: 0 } },
};

async function told(step: Parameters<typeof observePublish>[4]) {
  const events: RunEvent[] = [];
  const r = await observePublish((e) => events.push(e), build, report, 'repo.rsa.pub', step).catch(
    (e: unknown) => e,
  );
  const e = events[0];
  return { r, events, publish: e?.type === 'published' ? e.publish : undefined };
}

const timelineBuild = (publish: TimelineBuild['publish']): TimelineBuild => ({
  id: 'x@x86_64',
  name: 'x',
  arch: 'x86_64',
  version: '1.0.0-r0',
  deps: [],
  state: 'succeeded',
  attempts: 2,
  ...(publish ? { publish } : {}),
});

describe('the publish step in the build log', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('is told as a published event: published with its generation, failed, or refused with its code', async () => {
    const ok = await told(async () => ({ ok: true, indexed: true, revision: 7 }));
    expect(ok.r).toEqual({ ok: true, indexed: true, revision: 7 });
    expect(ok.publish).toMatchObject({
      result: 'published',
      attempt: 2,
      signedBy: 'repo.rsa.pub',
      generation: 7,
      packages: [{ filename: apk.filename, sha256: apk.sha256, size: 42 }],
    });
    const failed = await told(async () => ({ ok: false, reason: 'publish failed: disk full' }));
    expect(failed.publish).toMatchObject({ result: 'failed', code: 'publish-failed', message: /disk full/ });
    const forged = new ForgedReportError('staged-mismatch', 'bytes differ');
    const refused = await told(async () => {
      throw forged;
    });
    expect(refused.r).toBe(forged);
    expect(refused.publish).toMatchObject({
      result: 'refused',
      code: 'staged-mismatch',
      message: 'bytes differ',
    });
    // Any other error (a state write the run cannot do without) passes through untold.
    const other = await told(async () => {
      throw new Error('boom');
    });
    expect((other.r as Error).message).toBe('boom');
    expect(other.events).toEqual([]);
  });

  it("is a section for the log's attempt only; stored and read back, and timelines without it still read", async () => {
    const at = Date.UTC(2026, 0, 1);
    const publish = {
      result: 'failed' as const,
      attempt: 2,
      startedAt: at,
      finishedAt: at + 1500,
      packages: [{ filename: apk.filename, sha256: apk.sha256, size: 42 }],
      code: 'publish-failed',
      message: 'publish failed: first\nsecond',
    };
    const b = timelineBuild(publish);
    expect(publishSection(b, 1)).toBe('');
    expect(publishSection(timelineBuild(undefined), 2)).toBe('');
    expect(publishSection(b, 2)).toBe(
      '2026-01-01T00:00:00.000Z == coordinator: publish (attempt 2)\n' +
        `2026-01-01T00:00:00.000Z reported x-1.0.0-r0.apk: sha256 ${'a'.repeat(64)}, 42 bytes\n` +
        '2026-01-01T00:00:01.500Z publish FAILED (publish-failed) after 1.50s: publish failed: first\n' +
        '2026-01-01T00:00:01.500Z second\n',
    );
    const dir = mkdtempSync(join(tmpdir(), 'm2-pubsec-'));
    dirs.push(dir);
    const store = new FileRunStore(dir);
    const t: RunTimeline = {
      version: 1,
      runId: 'r1',
      repo: '/repo',
      arches: ['x86_64'],
      status: 'finished',
      startedAt: at,
      finishedAt: at + 2000,
      builds: [b, { ...timelineBuild(undefined), id: 'y@x86_64', name: 'y' }],
      upToDate: [],
      agents: [],
    };
    await store.put(t);
    const sections = new PublishSections((id) => store.get(id));
    expect(await sections.of({ runId: 'r1', arch: 'x86_64', name: 'x', attempt: 2 })).toBe(
      publishSection(b, 2),
    );
    // A build of an older timeline (no publish record) and an unknown run: no section, no error.
    expect(await sections.of({ runId: 'r1', arch: 'x86_64', name: 'y', attempt: 2 })).toBe('');
    expect(await sections.of({ runId: 'nope', arch: 'x86_64', name: 'x', attempt: 2 })).toBe('');
    expect(await sections.await({ runId: 'r1', arch: 'x86_64', name: 'y', attempt: 2 })).toBe('');
  });
});
