import { ConnectError } from '@melange2/buildkit';
import { DaemonStartError, ToolNotFoundError } from '@melange2/daemons';
import { ChangeDetectionError } from '@melange2/depgraph';
import { QueueError } from '@melange2/queue';
import { describe, expect, it } from 'vitest';
import { CliError, EXIT, exitCodeOf } from '@melange2/cli/internal';

describe('exit status of an error', () => {
  it("follows the library error's code, as README's Exit codes list them", () => {
    const cause = new Error('ECONNREFUSED');
    expect(
      exitCodeOf(new DaemonStartError('buildkitd', 'exited with code 1', 'buildkitd --root x', [], 'log')),
    ).toBe(EXIT.environment);
    expect(exitCodeOf(new ToolNotFoundError('runc', ['/usr/bin']))).toBe(EXIT.environment);
    expect(exitCodeOf(new ConnectError('unix:///x.sock', 'refused', { cause }))).toBe(EXIT.environment);
    expect(exitCodeOf(new QueueError('no responders', 'open', { cause }))).toBe(EXIT.environment);
    expect(exitCodeOf(new ChangeDetectionError('CHANGED_SINCE_REF', '/repo', 'nope', 'no such commit'))).toBe(
      EXIT.usage,
    );
    expect(exitCodeOf(new CliError('bad flag', EXIT.usage))).toBe(EXIT.usage);
    expect(exitCodeOf(new Error('anything else'))).toBe(EXIT.failed);
  });

  it('every library error keeps the error it came from', () => {
    const cause = new Error('spawn ENOENT');
    expect(
      new DaemonStartError('nats-server', 'did not start', 'nats-server -js', [], 'log', { cause }).cause,
    ).toBe(cause);
    expect(new ToolNotFoundError('runc', [], { cause }).cause).toBe(cause);
    expect(new ChangeDetectionError('GIT', '/repo', 'main', 'git failed', { cause }).cause).toBe(cause);
  });
});
