import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonStartError, findTool, isAlive, ToolNotFoundError } from '@melange2/daemons';
import { buildkitdArgs, launch } from '@melange2/daemons/internal';

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'm2-launch-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('launch', () => {
  it('reports a daemon that exits early with its command line and the tail of its log', async () => {
    const log = join(temp(), 'd.log');
    const script = 'for i in $(seq 1 30); do echo line $i; done; echo boom >&2; exit 3';
    const err = await launch({
      label: 'fake',
      command: '/bin/sh',
      args: ['-c', script],
      logFile: log,
      ready: async () => false,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonStartError);
    const e = err as DaemonStartError;
    expect(e.message).toContain('fake did not start: exited with code 3');
    expect(e.commandLine).toBe(`/bin/sh -c ${script}`);
    expect(e.logTail).toHaveLength(20);
    expect(e.logTail.at(-1)).toBe('boom');
    expect(e.logTail[0]).toBe('line 12');
  });

  it('gives up on a daemon that never becomes ready, and kills it', async () => {
    const log = join(temp(), 'd.log');
    const err = (await launch({
      label: 'slow',
      command: '/bin/sleep',
      args: ['30'],
      logFile: log,
      ready: async () => false,
      timeoutMs: 300,
    }).catch((e: unknown) => e)) as DaemonStartError;
    expect(err.message).toContain('not ready after 300 ms');
  });

  it('returns once ready() says so', async () => {
    const log = join(temp(), 'd.log');
    let polls = 0;
    const d = await launch({
      label: 'ok',
      command: '/bin/sleep',
      args: ['30'],
      logFile: log,
      ready: async () => ++polls >= 3,
    });
    expect(isAlive(d.pid)).toBe(true);
    d.child.kill('SIGKILL');
    await new Promise((r) => d.child.once('exit', r));
    expect(polls).toBe(3);
  });
});

describe('tools', () => {
  it('names every directory searched when a tool is missing', () => {
    expect(() => findTool('no-such-tool-m2')).toThrow(ToolNotFoundError);
    expect(() => findTool('no-such-tool-m2')).toThrow(/run scripts\/setup first/);
  });

  it('runs buildkitd with one platform, its own sockets and root', () => {
    expect(
      buildkitdArgs({
        platform: 'linux/arm64',
        socket: '/s/b.sock',
        root: '/s/root',
        otelSocket: '/s/otel.sock',
      }),
    ).toEqual([
      '--addr',
      'unix:///s/b.sock',
      '--root',
      '/s/root',
      '--otel-socket-path',
      '/s/otel.sock',
      '--oci-worker-platform',
      'linux/arm64',
      '--oci-worker-snapshotter',
      'auto',
      '--oci-worker-net',
      'host',
    ]);
  });
});
