import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { type CommandEntry, commands } from './commands/index.js';
import { EXIT, exitCodeOf } from './exit-codes.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** The command a command line names (the first word that is not an option), if it is one of ours. */
function requestedCommands(argv: readonly string[]): readonly CommandEntry[] {
  const args = argv.slice(2);
  const word = args.find((a) => !a.startsWith('-'));
  const named = commands.find((c) => c.name === word);
  if (named) return [named];
  // `--version` needs no command at all; anything else (help, unknown words) wants the full list.
  if (word === undefined && args.some((a) => a === '-V' || a === '--version')) return [];
  return commands;
}

/** The program with every command (for `--help` and tests), or only the one `argv` names. */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const program = new Command('melange2-orch')
    .description('Build a whole distribution of APK packages from melange configs on BuildKit')
    .version(pkg.version, '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    // commander's own errors (a missing argument, an unknown flag) get the prefix of every other.
    .configureOutput({
      outputError: (s, write) => write(`melange2-orch: ${s.replace(/^error: /, '')}`),
    })
    // Root options only before the command name, so `pack --version 1.2.3-r0` is pack's.
    .enablePositionalOptions()
    .exitOverride();
  for (const entry of argv ? requestedCommands(argv) : commands) (await entry.load())(program);
  program.commands.forEach(function inherit(c: Command) {
    c.exitOverride();
    c.commands.forEach(inherit);
  });
  return program;
}

/** Runs the CLI and returns the exit code; errors are printed once, as the user should see them. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version "errors" are the normal end of those commands.
      return e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
        ? EXIT.ok
        : EXIT.usage;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    process.stderr.write(`melange2-orch: ${err.message}\n`);
    if (process.env['MELANGE2_DEBUG']) process.stderr.write(`${err.stack ?? ''}\n`);
    return exitCodeOf(e);
  }
}

/**
 * For the bin only: a promise rejected with nobody to catch it is a bug, and the process is in
 * an unknown state. Say what it was and exit non-zero, rather than die with a bare stack trace
 * (or, with a handler elsewhere that only logs, run on half-broken).
 */
export function exitOnUnhandledRejection(): void {
  process.on('unhandledRejection', (reason) => {
    const err = reason instanceof Error ? reason : new Error(String(reason));
    process.stderr.write(`melange2-orch: internal error (a promise rejected unhandled): ${err.message}\n`);
    if (process.env['MELANGE2_DEBUG']) process.stderr.write(`${err.stack ?? ''}\n`);
    process.exit(EXIT.failed);
  });
}
