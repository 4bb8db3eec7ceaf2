/**
 * The conventions every `uae` command shares (README, "Conventions"): an error
 * is one line `uae: <message>` on stderr and exit code 2, usage errors from
 * commander included; --help and --version exit 0.
 *
 * Commander prints its own errors and calls process.exit(1); applyConventions
 * turns that off on every command (exitOverride, silent outputError) so the
 * error reaches `errorLine` like any other.
 */
import { Command, CommanderError } from 'commander';

/** The exit code of every failure. */
export const EXIT_ERROR = 2;

/** A usage error raised for `command` (commander's error with the command it came from). */
class UsageError extends CommanderError {
  constructor(
    err: CommanderError,
    readonly command: Command,
  ) {
    super(err.exitCode, err.code, err.message);
  }
}

/** exitOverride and silent error output on `cmd` and all its subcommands. */
export function applyConventions(cmd: Command): Command {
  cmd.exitOverride((err) => {
    throw new UsageError(err, cmd);
  });
  // Help asked for goes to stdout as usual; errors and help-as-error are reported by errorLine.
  cmd.configureOutput({ outputError: () => {}, writeErr: () => {} });
  for (const sub of cmd.commands) applyConventions(sub);
  return cmd;
}

/** The full name of a command, e.g. "uae mine". */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * What to print and the exit code for a failure (or a help/version exit):
 * `line` undefined means print nothing.
 */
export function errorLine(e: unknown): { line?: string; exitCode: number } {
  if (e instanceof CommanderError && (e.code === 'commander.helpDisplayed' || e.code === 'commander.version')) return { exitCode: 0 };
  if (e instanceof UsageError && e.code === 'commander.help') {
    // A command with subcommands run without one: commander would print its help on stderr.
    const subs = e.command.commands.map((c) => c.name());
    const path = commandPath(e.command);
    const where = e.command.parent ? `${path.replace(/^\S+ /, '')}: ` : '';
    return { line: `uae: ${where}missing command, one of ${subs.join(', ')} (${path} --help)`, exitCode: EXIT_ERROR };
  }
  const message = e instanceof Error ? e.message : String(e);
  const oneLine = message
    .replace(/^error: /, '')
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)
    .join('; ');
  return { line: `uae: ${oneLine || 'failed'}`, exitCode: EXIT_ERROR };
}

/**
 * Runs `read` (reading what `flag` named) and, when it fails, names the flag
 * in the error: `--x /nonexist.npy: ENOENT: no such file or directory, …`.
 * Messages that already start with the flag are left as they are.
 */
export async function forFlag<T>(flag: string, value: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (message.startsWith(flag)) throw e;
    throw new Error(`${flag} ${value}: ${message}`, { cause: e });
  }
}
