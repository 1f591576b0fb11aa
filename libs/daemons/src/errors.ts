/** A daemon that did not come up: carries the command line and the tail of its log. */
export class DaemonStartError extends Error {
  override readonly name = 'DaemonStartError';
  readonly code = 'DAEMON_START';
  constructor(
    readonly daemon: string,
    readonly reason: string,
    readonly commandLine: string,
    readonly logTail: readonly string[],
    readonly logFile: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${daemon} did not start: ${reason}\n  command: ${commandLine}\n  log (${logFile}, last ${logTail.length} lines):\n` +
        logTail.map((l) => `    ${l}`).join('\n'),
      options,
    );
  }
}

/** A tool the daemons need is not installed where we look for it. */
export class ToolNotFoundError extends Error {
  override readonly name = 'ToolNotFoundError';
  readonly code = 'TOOL_NOT_FOUND';
  constructor(
    readonly tool: string,
    readonly searched: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(`${tool} not found (looked in ${searched.join(', ')}): run scripts/setup first`, options);
  }
}

/** NATS authorization that cannot be written as asked (a role name the config cannot hold). */
export class NatsAuthError extends Error {
  override readonly name = 'NatsAuthError';
  readonly code = 'NATS_AUTH';
  constructor(
    readonly role: string,
    message: string,
  ) {
    super(`NATS role "${role}": ${message}`);
  }
}
