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
  ) {
    super(message);
  }
}
