/** A daemon that did not come up: carries the command line and the tail of its log. */
export class DaemonStartError extends Error {
  override readonly name = 'DaemonStartError';
  constructor(
    readonly daemon: string,
    readonly reason: string,
    readonly commandLine: string,
    readonly logTail: readonly string[],
    readonly logFile: string,
  ) {
    super(
      `${daemon} did not start: ${reason}\n  command: ${commandLine}\n  log (${logFile}, last ${logTail.length} lines):\n` +
        logTail.map((l) => `    ${l}`).join('\n'),
    );
  }
}

/** A tool the daemons need is not installed where we look for it. */
export class ToolNotFoundError extends Error {
  override readonly name = 'ToolNotFoundError';
  constructor(
    readonly tool: string,
    readonly searched: readonly string[],
  ) {
    super(`${tool} not found (looked in ${searched.join(', ')}): run scripts/setup first`);
  }
}
