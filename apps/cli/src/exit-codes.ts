/** What the CLI's exit status means, the same for every command. */
export const EXIT = {
  ok: 0,
  /** The command ran and found a failure (a build failed, a signature did not verify). */
  failed: 1,
  /** The command line was wrong (unknown flag, missing argument, bad value). */
  usage: 2,
  /** The environment was not usable (a daemon did not start, a tool is missing). */
  environment: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error whose message is for the user as it stands, with the exit code it means. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failed,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Library error codes by the exit status they mean: the one place where a library's failure
 * becomes an exit status (README "Exit codes"). A code not listed is a failure (1).
 */
const EXIT_OF_CODE: Readonly<Record<string, ExitCode>> = {
  // libs/daemons: a daemon did not come up, a tool is not installed.
  DAEMON_START: EXIT.environment,
  TOOL_NOT_FOUND: EXIT.environment,
  NATS_AUTH: EXIT.usage,
  // libs/buildkit: the daemon cannot be reached.
  BUILDKIT_CONNECT: EXIT.environment,
  // libs/queue: NATS is unreachable or the stream is missing.
  QUEUE_TRANSPORT: EXIT.environment,
  // libs/depgraph: `--changed-since` names no commit.
  CHANGED_SINCE_REF: EXIT.usage,
  // libs/engine: a build or test stopped at a stage (its cause carries the engine code below);
  // a config not built for the arch; an environment, package or ELF that could not be made or
  // read. All are failures the command found. (A daemon that cannot be reached is
  // BUILDKIT_CONNECT above, never wrapped.)
  BUILD_CONFIG: EXIT.failed,
  BUILD_ENVIRONMENT: EXIT.failed,
  BUILD_SOLVE: EXIT.failed,
  BUILD_PACKAGE: EXIT.failed,
  BUILD_INDEX: EXIT.failed,
  NOT_FOR_ARCH: EXIT.failed,
  ENVIRONMENT_REPOSITORY: EXIT.failed,
  ENVIRONMENT_KEYRING: EXIT.failed,
  ENVIRONMENT_SIGNATURE: EXIT.failed,
  ENVIRONMENT_UNSATISFIABLE: EXIT.failed,
  ENVIRONMENT_FETCH: EXIT.failed,
  ENVIRONMENT_PACKAGE: EXIT.failed,
  PACKAGE_METADATA: EXIT.failed,
  PACKAGE_WRITE: EXIT.failed,
  ELF_INVALID: EXIT.failed,
  // libs/depgraph: the repository argument or a `--published` index cannot be used.
  SCAN_NOT_DIRECTORY: EXIT.usage,
  SCAN_UNREADABLE: EXIT.usage,
  PUBLISHED_INDEX_UNREADABLE: EXIT.usage,
  PUBLISHED_INDEX_INVALID: EXIT.usage,
  // libs/melange: a `--vars-file` or `--arch` value that cannot be used (a bad config is a failure, 1).
  VARS_FILE: EXIT.usage,
  UNKNOWN_ARCH: EXIT.usage,
  // libs/protocol build logs: a run, arch or package name that cannot name a log is a usage
  // error; a log that is not there, or does not match its digest, is a failure.
  'log-bad-name': EXIT.usage,
  'log-not-found': EXIT.failed,
  'log-corrupt': EXIT.failed,
  'log-store': EXIT.environment,
};

/** The `code` a library error carries, if any. */
function codeOf(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null || !('code' in e)) return undefined;
  return typeof e.code === 'string' ? e.code : undefined;
}

/** The exit status an error means. */
export function exitCodeOf(e: unknown): ExitCode {
  if (e instanceof CliError) return e.exitCode;
  const code = codeOf(e);
  return (code !== undefined && EXIT_OF_CODE[code]) || EXIT.failed;
}
